#!/usr/bin/env python3
"""`ntbridge info --json` on lavapipe: valid JSON whose tables say what ntbridge adds there.

Usage: check_info_json.py TOOL

Memory: OPAQUE_WIN32 buffers exportable and importable through ntbridge and not natively; D3D11 textures
through neither. Semaphores (binary and timeline) and fences: OPAQUE_WIN32 and OPAQUE_WIN32_KMT exportable and
importable through ntbridge, compatible with each other and not with OPAQUE_FD, which lavapipe cannot export
(so the payload is ntbridge's shared payload); D3D12_FENCE supported by neither.
"""
import json
import os
import subprocess
import sys

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL: " + what)


def tool_environment():
    env = dict(os.environ)
    if os.environ.get("NTBRIDGE_TOOL_LD_PRELOAD"):
        env["LD_PRELOAD"] = os.environ["NTBRIDGE_TOOL_LD_PRELOAD"]
    return env


def rows(device, member):
    return {row["key"]: row for row in device[member]}


def check_lavapipe(device):
    check(device["externalMemoryWin32ThroughNtbridge"], "no VK_KHR_external_memory_win32 through ntbridge")
    memory = rows(device, "capabilities")
    buffer = memory["memory/buffer/OPAQUE_WIN32"]
    check(buffer["ntbridge"]["exportable"] and buffer["ntbridge"]["importable"]
          and not buffer["native"]["exportable"], f"buffer OPAQUE_WIN32: {buffer}")
    for key, row in memory.items():
        if row["handleType"] == "D3D11_TEXTURE":
            check(not row["ntbridge"].get("exportable") and not row["native"].get("exportable"),
                  f"{key} is reported exportable")

    for kind, member, resources in (("semaphore", "semaphoreCapabilities", ("binary", "timeline")),
                                    ("fence", "fenceCapabilities", ("fence",))):
        check(device[f"external{kind.capitalize()}Win32ThroughNtbridge"] is True,
              f"no VK_KHR_external_{kind}_win32 through ntbridge")
        check(device[f"external{kind.capitalize()}Win32Native"] is False, f"lavapipe has {kind} Win32 natively?")
        table = rows(device, member)
        payloads = device[f"{kind}Payloads"]
        check(sorted(payloads) == sorted(resources), f"{kind}Payloads: {payloads}")
        for resource in resources:
            prefix = f"{kind}/{resource}/" if kind == "semaphore" else "fence/"
            for handle_type in ("OPAQUE_WIN32", "OPAQUE_WIN32_KMT"):
                row = table[prefix + handle_type]
                layer = row["ntbridge"]
                check(layer["queried"] and layer["exportable"] and layer["importable"]
                      and sorted(layer["compatibleHandleTypes"]) == ["OPAQUE_WIN32", "OPAQUE_WIN32_KMT"],
                      f"{prefix}{handle_type} through ntbridge: {layer}")
                check(not row["native"].get("exportable"), f"{prefix}{handle_type} native: {row['native']}")
            opaque_fd = table[prefix + "OPAQUE_FD"]["ntbridge"]
            # The shared payload is told by its queries: it is not compatible with OPAQUE_FD.
            expected = "driver" if opaque_fd.get("exportable") else "shared"
            check(payloads[resource] == expected, f"{kind} {resource}: payload {payloads[resource]}, "
                  f"expected {expected} (OPAQUE_FD through ntbridge: {opaque_fd})")
            if kind == "semaphore":
                d3d12 = table[prefix + "D3D12_FENCE"]
                check(not d3d12["ntbridge"].get("exportable") and not d3d12["native"].get("exportable"),
                      f"{prefix}D3D12_FENCE is reported exportable")


def main():
    tool = sys.argv[1]
    p = subprocess.run([tool, "info", "--json"], capture_output=True, text=True, timeout=300,
                       env=tool_environment())
    if p.returncode != 0:
        raise SystemExit(f"ntbridge info --json failed ({p.returncode}): {p.stderr}")
    info = json.loads(p.stdout)
    lavapipe = [d for d in info["devices"] if "llvmpipe" in d["deviceName"]]
    if not lavapipe:
        raise SystemExit("no llvmpipe device in:\n" + p.stdout)
    for device in lavapipe:
        check_lavapipe(device)
    text = subprocess.run([tool, "info"], capture_output=True, text=True, timeout=300,
                          env=tool_environment()).stdout
    for line in ("VK_KHR_external_semaphore_win32 = through ntbridge: yes, native: no",
                 "payload (timeline)", "payload (fence)", "ntbridge's shared payload"):
        check(line in text, f"the text output lacks {line!r}")
    if failures:
        raise SystemExit(f"{len(failures)} checks failed")
    print("memory, semaphore and fence tables as expected on lavapipe")


if __name__ == "__main__":
    main()
