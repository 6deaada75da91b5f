#!/usr/bin/env python3
"""`ntbridge info` reports the driver's own support in its native columns however the layer is enabled.

Usage: check_info_native.py TOOL LAYER_DIR FORCE_LAYER_PRELOAD

The reference is a layer-free process: `ntbridge __native-query` run with no layer variable at all, which
must itself see no ntbridge. Then, for each way of enabling the layer (the environment variables, an
implicit layer manifest, the override layer vkconfig writes), the test first shows that the way really puts
the layer into an instance that does not ask for it, and then that `ntbridge info` and `ntbridge info --json`
report exactly the reference's native answers and ntbridge's through the layer. Last, a process environment
the tool cannot clean (a preloaded library that forces the layer in) must make the tool say that it could not
ask the driver alone, with no native answer.
"""
import json
import os
import subprocess
import sys
import tempfile

LAYER = "VK_LAYER_NTBRIDGE_external_win32"
WIN32 = "VK_KHR_external_memory_win32"
LAYER_VARIABLES = ("VK_INSTANCE_LAYERS", "VK_LOADER_LAYERS_ENABLE", "VK_LOADER_LAYERS_DISABLE",
                   "VK_LOADER_LAYERS_ALLOW", "VK_ADD_LAYER_PATH", "VK_LAYER_PATH", "VK_IMPLICIT_LAYER_PATH",
                   "VK_ADD_IMPLICIT_LAYER_PATH", "VK_LOADER_DEBUG")

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL: " + what)
    return condition


def run(tool, args, env):
    p = subprocess.run([tool] + args, env=env, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def layer_free_environment():
    env = {k: v for k, v in os.environ.items() if k not in LAYER_VARIABLES}
    # Under AddressSanitizer the preload is the tool's, not this interpreter's (tests/lib/CMakeLists.txt).
    if os.environ.get("NTBRIDGE_TOOL_LD_PRELOAD"):
        env["LD_PRELOAD"] = os.environ["NTBRIDGE_TOOL_LD_PRELOAD"]
    # A test environment must not already hold the layer (for example an installed implicit manifest).
    env.pop("XDG_DATA_HOME", None)
    return env


def manifest(layer_dir):
    with open(os.path.join(layer_dir, "VkLayer_ntbridge_external_win32.json")) as f:
        m = json.load(f)
    m["layer"]["library_path"] = os.path.join(layer_dir, "libVkLayer_ntbridge_external_win32.so")
    return m


def implicit_layer(home, layer_dir):
    """The layer installed as an implicit layer, as a distribution could ship it."""
    m = manifest(layer_dir)
    m["layer"]["disable_environment"] = {"NTBRIDGE_TEST_DISABLE_IMPLICIT": "1"}
    folder = os.path.join(home, "vulkan", "implicit_layer.d")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "VkLayer_ntbridge_external_win32.json"), "w") as f:
        json.dump(m, f)


def override_layer(home, layer_dir):
    """What vkconfig writes to force layers on with loader 1.3.239 (before the loader settings file)."""
    m = {"file_format_version": "1.2.0",
         "layer": {"name": "VK_LAYER_LUNARG_override", "type": "GLOBAL", "api_version": "1.3.239",
                   "implementation_version": "1", "description": "vkconfig override (test)",
                   "component_layers": [LAYER], "override_paths": [layer_dir],
                   "disable_environment": {"NTBRIDGE_TEST_DISABLE_OVERRIDE": "1"}}}
    folder = os.path.join(home, "vulkan", "implicit_layer.d")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "VkLayer_override.json"), "w") as f:
        json.dump(m, f)


# Each kind's table: its Win32 extension and the JSON members of a device (cmd_info.cpp).
TABLES = (("VK_KHR_external_memory_win32", "externalMemoryWin32Native", "capabilities"),
          ("VK_KHR_external_semaphore_win32", "externalSemaphoreWin32Native", "semaphoreCapabilities"),
          ("VK_KHR_external_fence_win32", "externalFenceWin32Native", "fenceCapabilities"))


def main():
    tool, layer_dir, force_preload = sys.argv[1:4]
    layer_dir = os.path.realpath(layer_dir)
    clean = layer_free_environment()

    reference = json.loads(run(tool, ["__native-query"], clean))
    if not check(reference["driverAlone"] and LAYER not in reference["layers"],
                 f"the layer-free reference process saw {reference['layers']}: {reference['why']}"):
        return
    ref = {d["deviceUUID"]: d for d in reference["devices"]}
    for d in ref.values():
        # Whatever the driver, the reference must be the driver's: D3D types are never supported by a driver
        # on Linux; on lavapipe (no Win32 extension) OPAQUE_WIN32 is not supported either.
        check(not d["rows"]["memory/buffer/D3D11_TEXTURE"]["exportable"], "reference: D3D11 exportable?")
        check(not d["rows"]["semaphore/timeline/D3D12_FENCE"]["exportable"], "reference: D3D12_FENCE exportable?")
        if WIN32 not in d["extensions"]:
            check(not d["rows"]["memory/buffer/OPAQUE_WIN32"]["exportable"],
                  "reference: OPAQUE_WIN32 exportable without the extension")

    with tempfile.TemporaryDirectory() as implicit_home, tempfile.TemporaryDirectory() as override_home:
        implicit_layer(implicit_home, layer_dir)
        override_layer(override_home, layer_dir)
        ways = {
            "VK_LOADER_LAYERS_ENABLE": {"VK_ADD_LAYER_PATH": layer_dir, "VK_LOADER_LAYERS_ENABLE": LAYER},
            "VK_LOADER_LAYERS_ENABLE wildcard": {"VK_ADD_LAYER_PATH": layer_dir,
                                                 "VK_LOADER_LAYERS_ENABLE": "*ntbridge*"},
            "VK_INSTANCE_LAYERS": {"VK_ADD_LAYER_PATH": layer_dir, "VK_INSTANCE_LAYERS": LAYER},
            "VK_LAYER_PATH + VK_INSTANCE_LAYERS": {"VK_LAYER_PATH": layer_dir, "VK_INSTANCE_LAYERS": LAYER},
            "implicit layer manifest (XDG_DATA_HOME)": {"XDG_DATA_HOME": implicit_home},
            "vkconfig override layer (XDG_DATA_HOME)": {"XDG_DATA_HOME": override_home},
        }
        for way, extra in ways.items():
            env = dict(clean, **extra)
            # The way must really force the layer into an instance that does not enable it, or this proves
            # nothing.
            forced = json.loads(run(tool, ["__native-query"], env))
            if not check(LAYER in forced["layers"] and not forced["driverAlone"],
                         f"{way}: a plain instance does not get the layer ({forced['layers']})"):
                continue
            info = json.loads(run(tool, ["info", "--json"], env))
            check(info.get("nativeDriverAlone") is True and "nativeError" not in info,
                  f"{way}: native not asked alone: {info.get('nativeError')}")
            for device in info["devices"]:
                d = ref.get(device["deviceUUID"])
                if not check(d is not None, f"{way}: {device['deviceName']} not in the reference"):
                    continue
                for extension, native_member, rows_member in TABLES:
                    check(device[native_member] == (extension in d["extensions"]),
                          f"{way}: {device['deviceName']}: {native_member} {device[native_member]}")
                    for row in device[rows_member]:
                        native = row["native"]
                        check(native == d["rows"][row["key"]],
                              f"{way}: {device['deviceName']} {row['key']}: native {native}, "
                              f"the driver alone {d['rows'][row['key']]}")
                if "llvmpipe" in device["deviceName"]:
                    check(device["externalMemoryWin32ThroughNtbridge"], f"{way}: no Win32 through ntbridge")
            text = run(tool, ["info"], env)
            if any("llvmpipe" in d["deviceName"] for d in info["devices"]):
                check(f"{WIN32} = through ntbridge: yes, native: no" in text,
                      f"{way}: text output:\n{text}")

    # An environment the tool cannot clean: it must say so and report nothing as native.
    env = dict(clean, NTBRIDGE_TEST_FORCE_LAYER_PATH=layer_dir,
               LD_PRELOAD=":".join(p for p in (clean.get("LD_PRELOAD"), force_preload) if p))
    info = json.loads(run(tool, ["info", "--json"], env))
    check(info.get("nativeDriverAlone") is False, "forced: nativeDriverAlone is not false")
    check("could not ask the driver alone" in info.get("nativeError", "") and LAYER in info.get("nativeError", ""),
          f"forced: nativeError {info.get('nativeError')!r}")
    for device in info["devices"]:
        for _, native_member, rows_member in TABLES:
            check(device[native_member] is None, f"forced: {native_member} is not null")
            check(all(row["native"] == {"queried": False} for row in device[rows_member]),
                  f"forced: a native cell of {rows_member} was reported")
    text = run(tool, ["info"], env)
    check("native: unknown" in text and "could not ask the driver alone" in text, f"forced: text:\n{text}")

    if failures:
        raise SystemExit(f"{len(failures)} checks failed")
    print(f"native columns match the layer-free process for {len(ways)} ways of enabling the layer")


if __name__ == "__main__":
    main()
