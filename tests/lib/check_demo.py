#!/usr/bin/env python3
"""`ntbridge demo` runs and verifies every frame: each mode asked for says OK with all its frames checked and no
mismatch, the summary counts them all, names the synchronisation and gives frames/s, and the exit status is 0.

Usage: check_demo.py TOOL DEMO_ARGUMENTS...   (they must include --frames N; --mode defaults to all)
"""
import os
import re
import subprocess
import sys


def main():
    tool, args = sys.argv[1], sys.argv[2:]
    frames = int(args[args.index("--frames") + 1])
    mode = args[args.index("--mode") + 1] if "--mode" in args else "all"
    modes = ["nt", "kmt", "name"] if mode == "all" else [mode]
    sync = args[args.index("--sync") + 1] if "--sync" in args else "gpu"
    env = dict(os.environ)
    if os.environ.get("NTBRIDGE_TOOL_LD_PRELOAD"):
        env["LD_PRELOAD"] = os.environ["NTBRIDGE_TOOL_LD_PRELOAD"]
    p = subprocess.run([tool, "demo"] + args, capture_output=True, text=True, timeout=600, env=env)
    print(p.stdout, end="")
    problems = []
    if p.returncode != 0:
        problems.append(f"exit status {p.returncode}")
    for m in modes:
        line = re.search(rf"^\[{m}\] (OK|FAILED)[^\n]*", p.stdout, re.M)
        if not line:
            problems.append(f"no result line for mode {m}")
            continue
        if not re.match(rf"\[{m}\] OK: {frames} frames, .* [0-9.]+ frames/s, 0 mismatches", line.group(0)):
            problems.append(f"mode {m}: {line.group(0)}")
    summary = re.search(r"^summary: (\d+) frames checked, (\d+) mismatches, (\d+) of (\d+) modes failed; "
                        r"([0-9.]+) frames/s \(--sync (\w+)", p.stdout, re.M)
    if not summary:
        problems.append("no summary line")
    else:
        checked, mismatches, failed, total, fps, said_sync = summary.groups()
        if (int(checked), int(mismatches), int(failed), int(total)) != (frames * len(modes), 0, 0, len(modes)):
            problems.append(f"summary: {summary.group(0)}")
        if said_sync != sync or float(fps) <= 0:
            problems.append(f"summary: {summary.group(0)} (expected --sync {sync} and frames/s)")
    if problems:
        raise SystemExit("FAIL: ntbridge demo " + " ".join(args) + ": " + "; ".join(problems) +
                         "\n--- stderr:\n" + p.stderr)
    print(f"every one of {frames * len(modes)} frames verified ({sync} sync)")


if __name__ == "__main__":
    main()
