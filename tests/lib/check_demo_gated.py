#!/usr/bin/env python3
"""The demo's runs that need a driver with external semaphore fds (NVIDIA, RADV, ANV), and CUDA: they run
end to end and verify every frame where the machine has what they need; elsewhere the tool must refuse them
with the reason, which this script checks against what `ntbridge info --json` says of the device, and then
reports the test as skipped (exit status 77) with that reason.

  check_demo_gated.py TOOL fd DEMO_ARGUMENTS...     ntbridge demo --mode fd --sync gpu (the baseline)
  check_demo_gated.py TOOL cuda DEMO_ARGUMENTS...   ntbridge demo --consumer cuda (every mode)

DEMO_ARGUMENTS must include --frames N. NTBRIDGE_TEST_DEVICE, when set, is passed as --device.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def tool_environment():
    env = dict(os.environ)
    if os.environ.get("NTBRIDGE_TOOL_LD_PRELOAD"):
        env["LD_PRELOAD"] = os.environ["NTBRIDGE_TOOL_LD_PRELOAD"]
    return env


def run(tool, args):
    p = subprocess.run([tool] + args, capture_output=True, text=True, timeout=600, env=tool_environment())
    print(f"$ ntbridge {' '.join(args)}  (exit status {p.returncode})\n{p.stdout}{p.stderr}", end="")
    return p


def device_facts(tool, name):
    p = subprocess.run([tool, "info", "--json"], capture_output=True, text=True, timeout=300, env=tool_environment())
    if p.returncode != 0:
        raise SystemExit(f"FAIL: ntbridge info --json failed:\n{p.stderr}")
    for device in json.loads(p.stdout)["devices"]:
        if device["deviceName"] == name:
            return device
    raise SystemExit(f"FAIL: the demo named the device '{name}', which `ntbridge info --json` does not list")


def verified(out, modes, frames, sync):
    """Every mode OK with all its frames and no mismatch, and a summary that counts them all."""
    problems = []
    for m in modes:
        if not re.search(rf"^\[{m}\] OK: {frames} frames, .* [0-9.]+ frames/s, 0 mismatches", out, re.M):
            problems.append(f"mode {m} did not verify {frames} frames")
    summary = re.search(r"^summary: (\d+) frames checked, 0 mismatches, 0 of (\d+) modes failed; ([0-9.]+) "
                        rf"frames/s \(--sync {sync}", out, re.M)
    if not summary or int(summary.group(1)) != frames * len(modes) or float(summary.group(3)) <= 0:
        problems.append("no summary with every frame checked")
    return problems


def skip(reason):
    print(f"SKIPPED: {reason}")
    sys.exit(SKIP)


def fd_baseline(tool, args, frames):
    p = run(tool, ["demo", "--mode", "fd", "--sync", "gpu"] + args)
    out = p.stdout + p.stderr
    if p.returncode == 0:
        problems = verified(out, ["fd"], frames, "gpu")
        if "OPAQUE_FD without ntbridge, no layer" not in out:
            problems.append("the run does not say it ran without ntbridge")
        return problems
    refused = re.search(r"the fd baseline with --sync gpu cannot run on (.+?): its driver (has no "
                        r"VK_KHR_external_semaphore_fd|does not export and import timeline semaphores as OPAQUE_FD)",
                        out)
    if not refused:
        return [f"exit status {p.returncode} without the reason"]
    device = device_facts(tool, refused.group(1))
    if "has no" in refused.group(2) and device["externalSemaphoreFd"]:
        return [f"the tool says {refused.group(1)} has no VK_KHR_external_semaphore_fd; `ntbridge info` says it has"]
    skip(f"{refused.group(1)}: its driver {refused.group(2)}, so the baseline cannot share semaphores without "
         "ntbridge (it runs on NVIDIA)")


def missing_plugin(tool, args):
    """A tool whose plugin is neither beside it nor installed says so, and where it looked, before it starts."""
    with tempfile.TemporaryDirectory() as folder:
        folder = os.path.realpath(folder)
        alone = os.path.join(folder, "ntbridge")
        shutil.copy2(tool, alone)
        p = run(alone, ["demo", "--consumer", "cuda", "--mode", "nt"] + args)
        out = p.stdout + p.stderr
        if (p.returncode != 1 or "ntbridge_demo_cuda.so is not installed (looked for " + folder not in out or
                "[nt]" in out):
            return ["a tool without its plugin does not say, before it starts, that the CUDA consumer is missing"]
    return []


def cuda_consumer(tool, args, frames):
    problems = missing_plugin(tool, args)
    p = run(tool, ["demo", "--consumer", "cuda"] + args)
    out = p.stdout + p.stderr
    if problems:
        return problems
    if p.returncode == 0:
        problems = verified(out, ["nt", "kmt", "name"], frames, "gpu")
        if "checked in CUDA" not in out or not re.search(r"consumer: .*\(CUDA device \d+\)", out):
            problems.append("the consumer is not said to be CUDA")
        return problems
    refused = re.search(r"the CUDA consumer cannot run on (.+?): CUDA imports only semaphores its driver made", out)
    if refused:
        device = device_facts(tool, refused.group(1))
        payload = device["semaphorePayloads"]["timeline"]
        if payload == "driver":
            return [f"the tool refuses {refused.group(1)}, whose timeline semaphores are the driver's own"]
        skip(f"{refused.group(1)}: its timeline semaphores are ntbridge's {payload} payload, which CUDA cannot "
             "import (it runs on NVIDIA)")
    no_cuda = re.search(r"(cudaGetDeviceCount failed[^;\n]*|no CUDA device has the exporter's device UUID)", out)
    if no_cuda:
        skip(f"no CUDA device for the demo's GPU: {no_cuda.group(1)}")
    return [f"exit status {p.returncode} without a reason the test knows"]


def main():
    tool, what, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    frames = int(args[args.index("--frames") + 1])
    if os.environ.get("NTBRIDGE_TEST_DEVICE") and "--device" not in args:
        args += ["--device", os.environ["NTBRIDGE_TEST_DEVICE"]]
    problems = fd_baseline(tool, args, frames) if what == "fd" else cuda_consumer(tool, args, frames)
    if problems:
        raise SystemExit("FAIL: " + "; ".join(problems))
    print(f"every frame verified ({what})")


if __name__ == "__main__":
    main()
