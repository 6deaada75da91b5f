#!/usr/bin/env python3
"""`ntbridge demo --mode fd` (the baseline) runs with no layer in either process, however the layer is enabled.

Usage: check_demo_fd_layers.py TOOL LAYER_DIR FORCE_LAYER_PRELOAD

For each way of enabling the layer that check_info_native.py knows (the environment variables, an implicit
layer manifest, the override layer vkconfig writes), the baseline synchronised on the CPU (which lavapipe can
run) must verify every frame: the tool takes every layer out of its environment and each process checks that
the loader inserted none. An environment the tool cannot clean (a preloaded library that puts the layer back
into the consumer process) must fail, naming the layer: the check is real.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_info_native as native  # noqa: E402

ARGS = ["demo", "--mode", "fd", "--sync", "cpu", "--frames", "12", "--size", "65536"]


def run(tool, env):
    return subprocess.run([tool] + ARGS, env=env, capture_output=True, text=True, timeout=300)


def main():
    tool, layer_dir, force_preload = sys.argv[1:4]
    layer_dir = os.path.realpath(layer_dir)
    clean = native.layer_free_environment()
    failures = []
    with tempfile.TemporaryDirectory() as implicit_home, tempfile.TemporaryDirectory() as override_home:
        native.implicit_layer(implicit_home, layer_dir)
        native.override_layer(override_home, layer_dir)
        ways = {
            "none": {},
            "VK_INSTANCE_LAYERS": {"VK_ADD_LAYER_PATH": layer_dir, "VK_INSTANCE_LAYERS": native.LAYER},
            "VK_LOADER_LAYERS_ENABLE": {"VK_ADD_LAYER_PATH": layer_dir, "VK_LOADER_LAYERS_ENABLE": "*ntbridge*"},
            "VK_LAYER_PATH + VK_INSTANCE_LAYERS": {"VK_LAYER_PATH": layer_dir, "VK_INSTANCE_LAYERS": native.LAYER},
            "implicit layer manifest (XDG_DATA_HOME)": {"XDG_DATA_HOME": implicit_home},
            "vkconfig override layer (XDG_DATA_HOME)": {"XDG_DATA_HOME": override_home},
        }
        for way, extra in ways.items():
            p = run(tool, dict(clean, **extra))
            if p.returncode != 0 or "[fd] OK: 12 frames" not in p.stdout or "no layer" not in p.stdout:
                failures.append(way)
                print(f"FAIL: {way}: exit status {p.returncode}\n{p.stdout}{p.stderr}")
    env = dict(clean, NTBRIDGE_TEST_FORCE_LAYER_PATH=layer_dir,
               LD_PRELOAD=":".join(p for p in (clean.get("LD_PRELOAD"), force_preload) if p))
    p = run(tool, env)
    said = f"--mode fd must run on the driver alone, but the Vulkan loader inserted the layers {native.LAYER}"
    if p.returncode == 0 or said not in p.stdout + p.stderr:
        failures.append("forced")
        print(f"FAIL: a layer forced into the consumer was not refused:\n{p.stdout}{p.stderr}")
    if failures:
        raise SystemExit(f"{len(failures)} environments misbehaved")
    print(f"the baseline ran without a layer under {len(ways)} environments and refused a forced one")


if __name__ == "__main__":
    main()
