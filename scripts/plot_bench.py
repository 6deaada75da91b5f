#!/usr/bin/env python3
"""Summarises and plots ntbridge's benchmark results (issue 6).

Reads the Google Benchmark JSON files that scripts/bench.sh writes (ops.json, scale.json, share.json,
share64.json, cuda.json; any that exist), prints the ratios against the targets, writes them to summary.json, and draws
a PNG.

Needs: Python 3.8+, and matplotlib for the PNG (Debian: apt-get install python3-matplotlib; or
pip install matplotlib). Without matplotlib it still prints and writes the summary.

Usage: scripts/plot_bench.py RESULTS_DIR [--png FILE] [--title TEXT]
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

# get_handle benchmarks time a batch of this many vkGetMemory*HandleKHR calls (an NT handle may be fetched
# only once per memory object, so each batch exports fresh allocations made outside the timed region).
GET_HANDLE_BATCH = 64
TOKENS = re.compile(r"/(min_time:[^/]*|real_time|manual_time|iterations:\d+|repeats:\d+)")


def family(run_name):
    return TOKENS.sub("", run_name)


def load(path):
    """{name: [per-repetition real time in ns]}, {name: counters of the last repetition}, context."""
    with open(path) as f:
        data = json.load(f)
    times, counters, errors = {}, {}, {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") != "iteration":
            continue
        name = family(b.get("run_name", b["name"]))
        if b.get("error_occurred"):
            errors[name] = b.get("error_message", "error")
            continue
        unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        times.setdefault(name, []).append(b["real_time"] * unit)
        counters[name] = {k: v for k, v in b.items() if isinstance(v, (int, float)) and k not in (
            "real_time", "cpu_time", "iterations", "repetitions", "repetition_index", "threads",
            "family_index", "per_family_instance_index")}
    return times, counters, errors, data.get("context", {})


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def median_ci(xs, level=0.95):
    """Distribution-free confidence interval of the median (order statistics of a binomial(n, 1/2))."""
    xs = sorted(xs)
    n = len(xs)
    k, cum = 0, 0.0
    for j in range(n + 1):
        p = math.comb(n, j) / 2 ** n
        if cum + p > (1 - level) / 2:
            break
        cum += p
        k = j + 1
    if k == 0:
        return xs[0], xs[-1]
    return xs[k - 1], xs[n - k]


def ratio(a, b):
    """Ratio of medians and the spread of per-repetition ratios (repetition i of a over repetition i of b)."""
    if not a or not b:
        return None
    pairs = [x / y for x, y in zip(a, b)]
    lo, hi = median_ci(pairs)
    # The verdict on a target uses the 95% confidence interval of the median per-repetition ratio: on a
    # machine whose timings wander by tens of percent between repetitions (a shared VM, a GPU driver's
    # allocator) one fast or slow repetition must not decide it. ratio_of_minima (the fastest repetitions,
    # the least disturbed ones) is reported beside it.
    return {"ratio": med(a) / med(b), "min": min(pairs), "max": max(pairs), "n": len(pairs),
            "paired_median": med(pairs), "ci_low": lo, "ci_high": hi,
            "ratio_of_minima": min(a) / min(b),
            "a_ns": med(a), "b_ns": med(b),
            "a_spread_pct": 100 * (max(a) - min(a)) / med(a), "b_spread_pct": 100 * (max(b) - min(b)) / med(b)}


def verdict(r, target, at_least=False):
    """MET when the whole confidence interval meets the target, MISSED when none of it does, else NOISE."""
    lo, hi = r["ci_low"], r["ci_high"]
    ok, bad = (lo >= target, hi < target) if at_least else (hi <= target, lo > target)
    r["verdict"] = "MET" if ok else ("MISSED" if bad else "NOISE")
    r["met"] = ok
    return r["verdict"]


def fmt_ns(ns):
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f µs" % (ns / 1e3)
    return "%.0f ns" % ns


def size_label(n):
    n = int(n)
    if n >= 1 << 30 and n % (1 << 30) == 0:
        return "%d GiB" % (n >> 30)
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%d MiB" % (n >> 20)
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return "%d KiB" % (n >> 10)
    return str(n)


def paired(fn, *series):
    """Per-repetition values fn(a_i, b_i, ...) of series paired by repetition, their median and its 95% CI."""
    if not series or any(not x for x in series):
        return None
    vals = [fn(*xs) for xs in zip(*series)]
    lo, hi = median_ci(vals)
    return {"ratio": med(vals), "paired_median": med(vals), "ci_low": lo, "ci_high": hi, "n": len(vals),
            "min": min(vals), "max": max(vals)}


def load_repetitions(path):
    """{name: [counters of each repetition]} of a Google Benchmark JSON file (iterations without errors)."""
    with open(path) as f:
        data = json.load(f)
    reps = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "iteration" and not b.get("error_occurred"):
            reps.setdefault(family(b.get("run_name", b["name"])), []).append(b)
    return reps


def summarize_sync(results, summary, out):
    """Semaphores and fences (bench_sync.cpp, issues 12 and 13), from sync.json: kept apart from the memory
    parts, whose names (scale_*/SIDE/N, op/SIDE) they would otherwise match. The targets on latencies come
    from the interleaved benchmarks, whose legs take turns round trip by round trip: a ratio of two legs of
    one repetition compares the same moments of the machine."""
    # sync.json (the whole program) and/or its parts (scripts/bench.sh --only sync-gpu); cuda-sync.json.
    paths = [os.path.join(results, n + ".json") for n in ("sync", "sync-handoff", "sync-ops", "sync-scale")]
    paths = [p for p in paths if os.path.exists(p)]
    rows = summary["sync"] = []
    if not paths:
        summarize_cuda_sync(results, summary, out, rows)
        return
    times, errors, ctx, reps = {}, {}, {}, {}
    for path in paths:
        t, _, e, c = load(path)
        times.update(t)
        errors.update(e)
        ctx = ctx or c
        reps.update(load_repetitions(path))
    summary["context"]["sync"] = {k: ctx.get(k) for k in ("vk_device", "vk_driver", "machine", "fd_semaphores",
                                                         "fd_fences", "host_name", "date", "num_cpus")}

    def series(name, counter):
        return [r[counter] for r in reps.get(name, []) if counter in r]

    out.append("== Semaphores and fences (sync.json): A -> B latencies, medians over repetitions of the "
               "per-repetition medians ==")
    for name in ("interleaved/wakeup", "interleaved/queue_handoff", "interleaved/queue_wait",
                 "interleaved/gpu_handoff"):
        if name in reps:
            keys = sorted(k for k in reps[name][0] if k.endswith("_us") and not k.endswith(("_p10_us", "_p90_us")))
            out.append("%-28s %s" % (name, "  ".join("%s %.1f µs" % (k[:-3], med(series(name, k))) for k in keys)))
    for name in sorted(times):
        if re.match(r"^(wakeup|queue_handoff|queue_wait)/", name):
            out.append("%-28s %10s (alone)" % (name, fmt_ns(med(times[name]))))
    why = {}
    for name, err in sorted(errors.items()):
        why.setdefault(err, []).append(name)
    for err, names in why.items():
        out.append("not measured (%s): %s" % (err, ", ".join(names)))

    def add(label, r, target, note=""):
        if r is None:
            return
        verdict(r, target)
        r.update(label=label, target=target if math.isfinite(target) else None, note=note)
        rows.append(r)
        goal = ("target <= %g %s" % (target, r["verdict"])) if math.isfinite(target) else "(informative)"
        out.append("%-58s %.3f (95%% CI %.3f..%.3f, n=%d) %s%s" % (
            label, r["ratio"], r["ci_low"], r["ci_high"], r["n"], goal, ("  " + note) if note else ""))

    w, q, qw = "interleaved/wakeup", "interleaved/queue_handoff", "interleaved/queue_wait"

    def within(name, counter):
        """A ratio the benchmark took within each cycle of legs (median over its cycles), per repetition."""
        return paired(lambda a: a, series(name, counter))

    out.append("-- targets (ratios within each cycle of legs, medians over the cycles of a repetition; "
               "median and 95% CI over the repetitions) --")
    add("wakeup win32 / raw futex", within(w, "win32_over_futex"), 2.0)
    add("wakeup win32 / driver opaque fd", within(w, "win32_over_fd"), 1.05)
    add("queue handoff win32 / driver opaque fd", within(q, "win32_queue_over_fd_queue"), 1.05)
    add("queue handoff from completion (estimate) / raw futex", within(q, "win32_queue_from_completion_over_futex"),
        2.0, "(win32_queue - driver_local_queue + driver_local) / futex")
    add("queue handoff win32 / driver's own, in process", within(q, "win32_queue_over_driver_local_queue"),
        float("inf"))
    # The extra delay of the GPU work behind a shared payload (paired within queue_wait's cycles), in host
    # wake-ups of the same repetition index (the two benchmarks ran at different moments).
    add("queue wait: (win32 - driver) / wakeup win32",
        paired(lambda a, b: a / b, series(qw, "win32_minus_driver_us"), series(w, "win32_us")), 1.0,
        "the extra delay of the GPU work behind a shared payload, in host wake-ups")
    add("queue wait win32 / driver opaque fd", within(qw, "win32_over_fd"), 1.05)
    g = "interleaved/gpu_handoff"
    add("GPU -> GPU handoff win32 / driver opaque fd", within(g, "win32_over_fd"), 1.05,
        "queues of two processes, chains queued before the clock starts")
    add("GPU -> GPU handoff win32 / raw futex (the floor)", within(g, "win32_over_futex"), float("inf"))
    add("GPU -> GPU handoff win32 / relay (the same threads, no layer)", within(g, "win32_over_relay"),
        float("inf"), "plain driver semaphores carried by host threads and futex words of the application")
    t = times.get
    for name in sorted(times):
        m = re.match(r"^(scale_[a-z_]+)/(win32|fd|driver)/(\d+)$", name)
        if m and m.group(3) != "1":
            add("%s %s N=%s / N=1" % (m.group(1), m.group(2), m.group(3)),
                ratio(times[name], t("%s/%s/1" % (m.group(1), m.group(2)))), 1.2)
    for name in sorted(times):
        m = re.match(r"^((semaphore|fence)_[a-z_]+)/win32$", name)
        if m:
            r = ratio(times[name], t(m.group(1) + "/fd"))
            if r:
                add("%s win32 / fd" % m.group(1), r, 1.05 if "create_destroy" not in name else float("inf"))
                floor = t(m.group(1) + "/floor")
                if floor:
                    add("%s win32 / floor" % m.group(1), ratio(times[name], floor), float("inf"),
                        "the floor: the fd path + fcntl(F_GETFD) + the kept duplicate (bench_sync_ops.cpp)")
                    add("%s floor / fd" % m.group(1), ratio(floor, t(m.group(1) + "/fd")), float("inf"),
                        "what the Win32 semantics' system calls cost on this driver")
            else:
                out.append("%-58s win32 %s; fd: %s" % (m.group(1), fmt_ns(med(times[name])),
                                                      errors.get(m.group(1) + "/fd", "not run")))
    summarize_cuda_sync(results, summary, out, rows)


def summarize_cuda_sync(results, summary, out, rows):
    """Vulkan -> CUDA handoffs (bench/cuda/bench_cuda_sync.cpp, issue 13), from cuda-sync.json."""
    path = os.path.join(results, "cuda-sync.json")
    if not os.path.exists(path):
        return
    times, _, errors, ctx = load(path)
    reps = load_repetitions(path)
    summary["context"]["cuda_sync"] = {k: ctx.get(k) for k in ("vk_device", "vk_driver", "cuda_device",
                                                              "cuda_runtime_driver", "machine", "date")}
    out.append("== Vulkan -> CUDA (cuda-sync.json): libntbridge_cuda against the fd extensions ==")
    for err, names in sorted({e: [n for n in errors if errors[n] == e] for e in errors.values()}.items()):
        out.append("not measured (%s): %s" % (err, ", ".join(names)))
    h = "interleaved/cuda_handoff"

    def series(counter):
        return [r[counter] for r in reps.get(h, []) if counter in r]

    if h in reps:
        out.append("%-28s %s" % (h, "  ".join("%s %.1f µs" % (k[:-3], med(series(k))) for k in sorted(reps[h][0])
                                             if k.endswith("_us"))))
    for label, counter, note in (
            ("Vulkan queue signal -> CUDA work ran, ntbridge / fd", "one_way_ntbridge_over_fd",
             "host vkQueueSubmit -> cudaEventSynchronize returns"),
            ("Vulkan <-> CUDA chain per handoff, ntbridge / fd", "chain_ntbridge_over_fd",
             "queued before the clock starts")):
        r = paired(lambda a: a, series(counter))
        if r is None:
            continue
        verdict(r, 1.05)
        r.update(label=label, target=1.05, note=note)
        rows.append(r)
        out.append("%-58s %.3f (95%% CI %.3f..%.3f, n=%d) target <= 1.05 %s  %s" % (
            label, r["ratio"], r["ci_low"], r["ci_high"], r["n"], r["verdict"], note))
    r = ratio(times.get("cuda_semaphore_import/ntbridge"), times.get("cuda_semaphore_import/fd"))
    if r:
        verdict(r, float("inf"))
        r.update(label="CUDA import + destroy of a semaphore, CudaExternalSemaphore / cudaImportExternalSemaphore",
                 target=None, note="")
        rows.append(r)
        out.append("%-58s %.3f (95%% CI %.3f..%.3f, n=%d) (informative) %s vs %s" % (
            "CUDA semaphore import + destroy, ntbridge / fd", r["ratio"], r["ci_low"], r["ci_high"], r["n"],
            fmt_ns(r["a_ns"]), fmt_ns(r["b_ns"])))

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--png", default=None)
    ap.add_argument("--title", default=None)
    args = ap.parse_args()

    times, counters, errors, contexts = {}, {}, {}, {}
    for part in ("ops", "scale", "share", "share64", "cuda"):
        path = os.path.join(args.results, part + ".json")
        if os.path.exists(path):
            t, c, e, ctx = load(path)
            times.update(t)
            counters.update(c)
            errors.update(e)
            contexts[part] = ctx

    summary = {"ops": [], "scale": [], "share": [], "share_64": [], "memory": [], "cuda": [], "sync": [], "errors": errors,
               "context": {k: {kk: v.get(kk) for kk in ("vk_device", "vk_driver", "machine", "cuda_device",
                                                         "host_name", "date", "num_cpus")}
                           for k, v in contexts.items()}}
    out = []

    # Part 1: every op, Win32 over fd (target <= 1.05).
    out.append("== Layer overhead: Win32 path / fd path (target <= 1.05); times are medians per operation ==")
    for name in sorted(times):
        m = re.match(r"^([a-z_]+)/win32/(\d+)$", name)
        if not m or m.group(1).startswith("scale"):
            continue
        r = ratio(times[name], times.get("%s/fd/%s" % (m.group(1), m.group(2))))
        if r is None:
            continue
        r.update(op=m.group(1), size=int(m.group(2)))
        verdict(r, 1.05)
        # The floor (bench_ops.cpp): the fd path plus the system calls the Win32 semantics add to it.
        floor = ratio(times.get("%s/fd_floor/%s" % (m.group(1), m.group(2))), times["%s/fd/%s" % (m.group(1), m.group(2))])
        if floor is not None:
            r["floor_ratio"] = floor["ratio"]
            r["floor_ratio_of_minima"] = floor["ratio_of_minima"]
            r["over_floor"] = r["a_ns"] / floor["a_ns"]
        summary["ops"].append(r)
        per = GET_HANDLE_BATCH if r["op"] == "get_handle" else 1
        out.append("%-26s %8s  win32 %10s  fd %10s  ratio %.3f (95%% CI %.3f..%.3f, per-rep %.3f..%.3f, n=%d), of minima %.3f %s%s" % (
            r["op"], size_label(r["size"]), fmt_ns(r["a_ns"] / per), fmt_ns(r["b_ns"] / per), r["ratio"], r["ci_low"],
            r["ci_high"], r["min"], r["max"], r["n"], r["ratio_of_minima"], r["verdict"],
            ("  [floor fd+syscalls %.3f, win32/floor %.3f]" % (r["floor_ratio"], r["over_floor"]))
            if "floor_ratio" in r else ""))

    # Part 3: scale, cost at N / cost at 1 (target <= 1.2), and Win32/fd at each N.
    out.append("== Scale: cost with N live allocations / cost with 1 (target <= 1.2) ==")
    for name in sorted(times):
        m = re.match(r"^(scale_[a-z_]+)/(win32|fd)/(\d+)$", name)
        if not m:
            continue
        base = times.get("%s/%s/1" % (m.group(1), m.group(2)))
        r = ratio(times[name], base)
        if r is None:
            continue
        other = times.get("%s/%s/%s" % (m.group(1), "fd" if m.group(2) == "win32" else "win32", m.group(3)))
        r.update(op=m.group(1), side=m.group(2), live=int(m.group(3)))
        verdict(r, 1.2)
        if m.group(2) == "win32" and other:
            r["win32_over_fd"] = med(times[name]) / med(other)
        summary["scale"].append(r)
        out.append("%-34s %-5s N=%-6d %10s  /N=1 %.3f (%.3f..%.3f)%s" % (
            r["op"], r["side"], r["live"], fmt_ns(r["a_ns"] / (GET_HANDLE_BATCH if "get_handle" in r["op"] else 1)), r["ratio"], r["min"], r["max"],
            ("  win32/fd %.3f" % r["win32_over_fd"]) if "win32_over_fd" in r else ""))
    for name, err in sorted(errors.items()):
        if name.startswith("scale"):
            out.append("%-34s not measured: %s" % (name, err))

    out.append("== Layer memory per tracked allocation (target <= 512 B) ==")
    for name in sorted(counters):
        if name.startswith("layer_bytes_per_allocation"):
            c = counters[name]
            v = c.get("layer_heap_bytes_per_allocation")
            summary["memory"].append({"name": name, **c, "met": v is not None and v <= 512})
            out.append("%-46s heap %.1f B  rss %.1f B" % (name, v, c.get("layer_rss_bytes_per_allocation", 0)))

    # Part 2: opening in another process (target: name/KMT <= 1.2 x SCM_RIGHTS + import).
    out.append("== Opening in another process: by name / KMT over SCM_RIGHTS handoff + import (target <= 1.2) ==")
    base = times.get("open/scm_rights")
    if base:
        out.append("%-30s %10s" % ("open/scm_rights", fmt_ns(med(base))))
    # The floor (bench_share.cpp): SCM_RIGHTS + import plus the one message to a sleeping process that the
    # free of named/KMT memory sends the broker; it tells what waking a process costs on this machine.
    floor = ratio(times.get("open/scm_rights_notify"), base)
    if floor:
        summary["share_floor"] = floor
        out.append("%-30s %10s  ratio %.3f (95%% CI %.3f..%.3f), of minima %.3f  (floor: + one wake-up)" % (
            "open/scm_rights_notify", fmt_ns(floor["a_ns"]), floor["ratio"], floor["ci_low"], floor["ci_high"],
            floor["ratio_of_minima"]))
    for kind in ("name", "kmt"):
        name = "open/" + kind
        r = ratio(times.get(name), base)
        if r:
            r.update(kind=kind)
            verdict(r, 1.2)
            if floor:
                r["floor_ratio"] = floor["ratio"]
                r["over_floor"] = r["a_ns"] / floor["a_ns"]
            summary["share"].append(r)
            out.append("%-30s %10s  ratio %.3f (95%% CI %.3f..%.3f, per-rep %.3f..%.3f), of minima %.3f %s%s" % (
                name, fmt_ns(r["a_ns"]), r["ratio"], r["ci_low"], r["ci_high"], r["min"], r["max"],
                r["ratio_of_minima"], r["verdict"],
                ("  [%s/floor %.3f]" % (kind, r["over_floor"])) if floor else ""))
        elif name in errors:
            out.append("%-30s not measured: %s" % (name, errors[name]))
    base = times.get("open_only/scm_rights")
    if base:
        out.append("%-30s %10s  (import alone, vkFreeMemory outside the timing)" % ("open_only/scm_rights",
                                                                                  fmt_ns(med(base))))
        for kind in ("name", "kmt"):
            r = ratio(times.get("open_only/" + kind), base)
            if r:
                r.update(kind=kind + " (open only)", informative=True)
                out.append("%-30s %10s  ratio %.3f (%.3f..%.3f), of minima %.3f" % (
                    "open_only/" + kind, fmt_ns(r["a_ns"]), r["ratio"], r["min"], r["max"], r["ratio_of_minima"]))
    for kind in ("scm_rights", "name", "kmt"):
        name = "open_64_processes/" + kind
        if name in counters:
            c = counters[name]
            summary["share_64"].append({"kind": kind, **c, "ns_per_open_aggregate": med(times[name])})
            out.append("%-30s %8.0f opens/s  median latency %.1f µs  worst process %.1f µs  failed %d" % (
                name, c.get("opens_per_second", 0), c.get("latency_us_median", 0),
                c.get("latency_us_worst_process_median", 0), c.get("failed_opens", 0)))
        elif name in errors:
            out.append("%-30s not measured: %s" % (name, errors[name]))

    # Part 4: CUDA.
    if any(n.startswith("cuda") for n in list(times) + list(errors)):
        out.append("== CUDA ==")
        for name in sorted(times):
            m = re.match(r"^cuda_read_bandwidth/ntbridge/(\d+)$", name)
            if m:
                size = int(m.group(1))
                base = times.get("cuda_read_bandwidth/cudaMalloc/%d" % size)
                r = ratio(base, times[name])  # bandwidth ratio = time(cudaMalloc) / time(ntbridge)
                if r:
                    r.update(size=size, bandwidth_ratio=r["ratio"],
                             ntbridge_GBps=size / med(times[name]), cudaMalloc_GBps=size / med(base))
                    verdict(r, 0.98, at_least=True)
                    summary["cuda"].append(r)
                    out.append("read bandwidth %8s  ntbridge %.1f GB/s  cudaMalloc %.1f GB/s  ratio %.3f (95%% CI %.3f..%.3f) %s"
                               % (size_label(size), r["ntbridge_GBps"], r["cudaMalloc_GBps"], r["ratio"], r["ci_low"],
                                  r["ci_high"], r["verdict"]))
        for name in sorted(times):
            m = re.match(r"^cuda_open/(ntbridge_handoff|ntbridge_in_process)/(\d+)$", name)
            if m:
                base = times.get("cuda_open/cuda_ipc/%s" % m.group(2))
                r = ratio(times[name], base)
                if r:
                    r.update(kind=m.group(1), size=int(m.group(2)))
                    summary["cuda"].append(r)
                    out.append("open %-20s %8s  %10s  cudaIpcOpenMemHandle %10s  ratio %.3f" % (
                        m.group(1), size_label(int(m.group(2))), fmt_ns(r["a_ns"]), fmt_ns(r["b_ns"]), r["ratio"]))

    summarize_sync(args.results, summary, out)

    print("\n".join(out))
    with open(os.path.join(args.results, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x)
    with open(os.path.join(args.results, "summary.txt"), "w") as f:
        f.write("\n".join(out) + "\n")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG (apt-get install python3-matplotlib)", file=sys.stderr)
        return 0

    panels = [p for p in ("ops", "scale", "share", "cuda", "sync")
              if summary[p] and (p != "sync" or any(r.get("target") for r in summary[p]))]
    if not panels:
        return 0
    heights = [max(3.6, 0.9 + 0.22 * sum(1 for r in summary["sync"] if r.get("target"))) if p == "sync" else 3.6
               for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, panel in zip(axes[:, 0], panels):
        if panel == "ops":
            rows = summary["ops"]
            labels = ["%s\n%s" % (r["op"].replace("_", " "), size_label(r["size"])) for r in rows]
            y = [r["ratio"] for r in rows]
            err = [[r["ratio"] - r["min"] for r in rows], [r["max"] - r["ratio"] for r in rows]]
            ax.bar(range(len(rows)), y, yerr=err, capsize=3,
                   color=[{"MET": "tab:green", "NOISE": "tab:orange"}.get(r["verdict"], "tab:red") for r in rows])
            floors = [(i, r["floor_ratio"]) for i, r in enumerate(rows) if "floor_ratio" in r]
            if floors:
                ax.scatter([f[0] for f in floors], [f[1] for f in floors], marker="_", s=200, color="k", zorder=3,
                           label="floor: fd path + the system calls Win32 semantics add")
            ax.set_yscale("log")
            ax.axhline(1.05, color="k", ls="--", lw=1, label="target 1.05")
            ax.axhline(1.0, color="grey", lw=0.5)
            ax.set_xticks(range(len(rows)))
            ax.set_xticklabels(labels, fontsize=6, rotation=60, ha="right")
            ax.set_ylabel("Win32 / fd time")
            ax.set_title("Layer overhead per operation (median of repetitions, bars: per-repetition range)")
            ax.legend(fontsize=7)
        elif panel == "scale":
            for op in sorted({r["op"] for r in summary["scale"]}):
                for side in ("win32", "fd"):
                    per = GET_HANDLE_BATCH if "get_handle" in op else 1
                    pts = sorted((r["live"], r["a_ns"] / per) for r in summary["scale"] if r["op"] == op and r["side"] == side)
                    if pts:
                        ax.plot([p[0] for p in pts], [p[1] / 1e3 for p in pts], marker="o",
                                ls="-" if side == "win32" else ":", label="%s %s" % (op.replace("scale_", ""), side))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("live allocations")
            ax.set_ylabel("µs per operation")
            ax.set_title("Cost per operation against live allocations (target: N=100000 within 1.2x of N=1)")
            ax.legend(fontsize=6, ncol=2)
        elif panel == "share":
            names = ["open/scm_rights"] + ["open/" + r["kind"] for r in summary["share"]]
            vals = [med(times["open/scm_rights"]) / 1e3] + [r["a_ns"] / 1e3 for r in summary["share"]]
            ax.bar(range(len(names)), vals, color=["tab:blue"] + [{"MET": "tab:green", "NOISE": "tab:orange"}.get(r["verdict"], "tab:red")
                                                                   for r in summary["share"]])
            ax.axhline(vals[0] * 1.2, color="k", ls="--", lw=1, label="1.2x SCM_RIGHTS + import")
            if "share_floor" in summary:
                ax.axhline(summary["share_floor"]["a_ns"] / 1e3, color="grey", ls=":", lw=1,
                           label="floor: SCM_RIGHTS + import + one wake-up of a sleeping process")
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names)
            ax.set_ylabel("µs per open + free")
            ax.set_title("Opening 1 MiB exported by another process")
            ax.legend(fontsize=7)
        elif panel == "cuda":
            rows = [r for r in summary["cuda"] if "bandwidth_ratio" in r]
            labels = ["read bw %s" % size_label(r["size"]) for r in rows]
            vals = [r["bandwidth_ratio"] for r in rows]
            rows2 = [r for r in summary["cuda"] if "kind" in r]
            labels += ["open %s %s" % (r["kind"], size_label(r["size"])) for r in rows2]
            vals += [r["ratio"] for r in rows2]
            ax.bar(range(len(vals)), vals, color="tab:purple")
            ax.axhline(0.98, color="k", ls="--", lw=1, label="bandwidth target 0.98")
            ax.set_xticks(range(len(vals)))
            ax.set_xticklabels(labels, fontsize=7)
            ax.set_ylabel("ntbridge / CUDA")
            ax.set_title("CUDA: bandwidth ntbridge/cudaMalloc; open time ntbridge/cudaIpcOpenMemHandle")
            ax.legend(fontsize=7)
        elif panel == "sync":
            # Every target of issues 12 and 13 as a fraction of its target (1 = on it), with the 95% CI.
            rows = [r for r in summary["sync"] if r.get("target")]
            y = [r["ratio"] / r["target"] for r in rows]
            err = [[max(0.0, (r["ratio"] - r["ci_low"]) / r["target"]) for r in rows],
                   [max(0.0, (r["ci_high"] - r["ratio"]) / r["target"]) for r in rows]]
            ax.barh(range(len(rows)), y, xerr=err, capsize=3,
                    color=[{"MET": "tab:green", "NOISE": "tab:orange"}.get(r["verdict"], "tab:red") for r in rows])
            ax.axvline(1.0, color="black", lw=1, ls="--")
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels(["%s (<= %g)" % (r["label"], r["target"]) for r in rows], fontsize=7)
            ax.invert_yaxis()
            ax.set_xlabel("ratio / target (green: met, orange: noise, red: missed)")
            ax.set_title("Semaphores and fences (issues 12, 13): each ratio over its target, 95% CI")
    ctx = next(iter(summary["context"].values()), {})
    fig.suptitle(args.title or "ntbridge benchmarks — %s; %s" % (ctx.get("vk_device"), ctx.get("machine")),
                 fontsize=9)
    fig.tight_layout()
    png = args.png or os.path.join(args.results, "bench.png")
    fig.savefig(png, dpi=110)
    print("wrote", png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
