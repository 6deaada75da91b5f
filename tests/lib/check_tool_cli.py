#!/usr/bin/env python3
"""The `ntbridge` command line: every --help text, and a clear error (exit status 2) for every bad option.

Usage: check_tool_cli.py TOOL CUDA_CONSUMER   (CUDA_CONSUMER: yes where the build has `--consumer cuda`, else no)
"""
import os
import subprocess
import sys

failures = []


def tool_environment():
    """This environment, with the sanitizer preload meant for the tool (tests/lib/CMakeLists.txt)."""
    env = dict(os.environ)
    if os.environ.get("NTBRIDGE_TOOL_LD_PRELOAD"):
        env["LD_PRELOAD"] = os.environ["NTBRIDGE_TOOL_LD_PRELOAD"]
    return env


def expect(tool, args, status, out=(), err=(), no_out=()):
    p = subprocess.run([tool] + args, capture_output=True, text=True, timeout=120, env=tool_environment())
    problems = []
    if p.returncode != status:
        problems.append(f"exit status {p.returncode}, expected {status}")
    problems += [f"stdout lacks {s!r}" for s in out if s not in p.stdout]
    problems += [f"stderr lacks {s!r}" for s in err if s not in p.stderr]
    problems += [f"stdout has {s!r}" for s in no_out if s in p.stdout]
    if problems:
        failures.append(args)
        print(f"FAIL: ntbridge {' '.join(args)}: {'; '.join(problems)}\n--- stdout:\n{p.stdout}--- stderr:\n{p.stderr}")


def main():
    tool, cuda_consumer = sys.argv[1], sys.argv[2] == "yes"
    usage = "usage: ntbridge <command> [options]   (ntbridge <command> --help for each)"
    commands = ["  info     devices, UUIDs", "  demo     two processes share GPU memory and semaphores", "  status   what the user's broker"]
    expect(tool, [], 2, err=[usage] + commands)
    for flag in ("--help", "-h"):
        expect(tool, [flag], 0, out=[usage] + commands, no_out=["__native-query"])
    expect(tool, ["info", "--help"], 0, out=["usage: ntbridge info [--json]", "  --json    machine-readable output"])
    expect(tool, ["demo", "--help"], 0,
           out=["usage: ntbridge demo [--frames N] [--mode nt|kmt|name|all|fd] [--sync gpu|cpu] [--ring N] "
                "[--size BYTES]\n                     [--consumer vulkan|cuda] [--device NAME]",
                "  --size BYTES      bytes per frame, a multiple of 4, at least 4096 (default 1048576)",
                "  --sync S          gpu or cpu (default gpu)",
                "  --consumer C      vulkan or cuda (default vulkan)",
                "  fd    not ntbridge at all, the baseline"],
           no_out=["consumer-socket"])
    expect(tool, ["demo", "-h"], 0, out=["usage: ntbridge demo"])
    expect(tool, ["status", "--help"], 0,
           out=["usage: ntbridge status [--json] [--socket PATH]", "  --socket PATH  the broker's socket"])

    see = "what to do: see `ntbridge {} --help`"
    expect(tool, ["frobnicate"], 2, err=["ntbridge: unknown command 'frobnicate'", usage])
    expect(tool, ["--frobnicate"], 2, err=["ntbridge: unknown option '--frobnicate'", usage])
    expect(tool, ["info", "--bogus"], 2, err=["ntbridge info: error:", "--bogus", see.format("info")])
    expect(tool, ["info", "extra"], 2, err=["ntbridge info: error:", "extra", see.format("info")])
    expect(tool, ["demo", "--frobnicate", "1"], 2, err=["ntbridge demo: error:", "--frobnicate", see.format("demo")])
    expect(tool, ["demo", "--frames", "x"], 2, err=["ntbridge demo: error:", "--frames", see.format("demo")])
    expect(tool, ["demo", "--frames", "-5"], 2, err=["ntbridge demo: error:", "--frames"])
    expect(tool, ["demo", "--frames"], 2, err=["ntbridge demo: error:", "--frames"])
    expect(tool, ["demo", "--size", "5002"], 2, err=["--size", "must be a multiple of 4 and at least 4096"])
    expect(tool, ["demo", "--size", "1024"], 2, err=["--size", "must be a multiple of 4 and at least 4096"])
    expect(tool, ["demo", "--size", "lots"], 2, err=["ntbridge demo: error:", "--size"])
    expect(tool, ["demo", "--mode", "fast"], 2, err=["ntbridge demo: error:", "--mode", "fast", "nt"])
    expect(tool, ["demo", "--sync", "fast"], 2, err=["ntbridge demo: error:", "--sync", "fast", "gpu", "cpu"])
    expect(tool, ["demo", "--sync"], 2, err=["ntbridge demo: error:", "--sync"])
    expect(tool, ["demo", "--sync", "cpu", "--ring", "4"], 2, err=["--ring applies to --sync gpu only"])
    expect(tool, ["demo", "--mode", "fd", "--sync", "cpu", "--ring", "2"], 2, err=["--ring applies to --sync gpu only"])
    expect(tool, ["demo", "--mode", "nt,fd"], 2, err=["ntbridge demo: error:", "--mode", "nt,fd", "fd"])
    expect(tool, ["demo", "--consumer", "opencl"], 2,
           err=["ntbridge demo: error:", "--consumer", "opencl", "vulkan", "cuda", see.format("demo")])
    expect(tool, ["demo", "--consumer"], 2, err=["ntbridge demo: error:", "--consumer"])
    if cuda_consumer:
        expect(tool, ["demo", "--consumer", "cuda", "--sync", "cpu"], 2,
               err=["ntbridge demo: error: --consumer cuda needs --sync gpu", see.format("demo")])
        expect(tool, ["demo", "--consumer", "cuda", "--mode", "fd"], 2,
               err=["ntbridge demo: error: --consumer cuda shares through ntbridge",
                    "the fd baseline has the Vulkan consumer only"])
    else:
        for args in (["--consumer", "cuda"], ["--consumer", "cuda", "--sync", "cpu"]):
            expect(tool, ["demo"] + args, 2,
                   err=["ntbridge demo: error: --consumer cuda is not built into this ntbridge",
                        "rebuild with the CUDA toolkit installed"])
    for ring in ("0", "17", "x", "-1"):
        expect(tool, ["demo", "--ring", ring], 2, err=["ntbridge demo: error:", "--ring"])
    expect(tool, ["status", "--bogus"], 2, err=["ntbridge status: error:", "--bogus", see.format("status")])
    expect(tool, ["status", "--socket"], 2, err=["ntbridge status: error:", "--socket"])
    if failures:
        raise SystemExit(f"{len(failures)} command lines misbehaved")
    print("every --help text and bad option as expected")


if __name__ == "__main__":
    main()
