#!/usr/bin/env python3
"""Tables generated from the installed Vulkan registry (vk.xml), so nothing from the spec is retyped.

  registry.py struct-sizes OUT       C++ rows {sType, sizeof(struct)} for every struct in the headers
  registry.py spec-version EXT       the spec version of a device or instance extension
  registry.py win32-vuids OUT        C++ rows {"VUID-...", "text"} of the Valid Usage rules ntbridge answers for:
                                     VK_KHR_external_memory_win32, VK_KHR_external_semaphore_win32 and
                                     VK_KHR_external_fence_win32
  registry.py win32-vuid-list        those VUIDs, one a line
  registry.py all-vuid-list          every VUID in validusage.json, one a line
"""
import html
import json
import re
import sys
import xml.etree.ElementTree as ET

VK_XML = "/usr/share/vulkan/registry/vk.xml"
VALIDUSAGE_JSON = "/usr/share/vulkan/registry/validusage.json"

# Every rule of these belongs to the extension (or, for the last three, is about handleTypes, which the
# extension extends with the Win32 types).
WIN32_ALL_RULES = [
    "VkMemoryGetWin32HandleInfoKHR",
    "vkGetMemoryWin32HandleKHR",
    "VkExportMemoryWin32HandleInfoKHR",
    "VkImportMemoryWin32HandleInfoKHR",
    "vkGetMemoryWin32HandlePropertiesKHR",
    "VkMemoryWin32HandlePropertiesKHR",
    "VkExportMemoryAllocateInfo",
    "VkExternalMemoryBufferCreateInfo",
    "VkExternalMemoryImageCreateInfo",
]
# Every rule of these belongs to VK_KHR_external_semaphore_win32 or VK_KHR_external_fence_win32 (or, for the
# last two, is about handleTypes, which the extensions extend with the Win32 types). VkD3D12FenceSubmitInfoKHR
# belongs to VK_KHR_external_semaphore_win32.
SYNC_ALL_RULES = [
    "VkSemaphoreGetWin32HandleInfoKHR",
    "vkGetSemaphoreWin32HandleKHR",
    "VkExportSemaphoreWin32HandleInfoKHR",
    "VkImportSemaphoreWin32HandleInfoKHR",
    "vkImportSemaphoreWin32HandleKHR",
    "VkD3D12FenceSubmitInfoKHR",
    "VkFenceGetWin32HandleInfoKHR",
    "vkGetFenceWin32HandleKHR",
    "VkExportFenceWin32HandleInfoKHR",
    "VkImportFenceWin32HandleInfoKHR",
    "vkImportFenceWin32HandleKHR",
    "VkExportSemaphoreCreateInfo",
    "VkExportFenceCreateInfo",
]
# Of these, only the rules that concern Win32 handles: the extension in their condition, or Win32, NT or
# global share handles in their text.
WIN32_SOME_RULES = ["VkMemoryAllocateInfo"]
WIN32_WORDS = re.compile(r"win32|NT handle|global share", re.IGNORECASE)
# Rules that do not name Win32 but that a Win32 allocation or resource can break.
WIN32_ALSO = [
    "VUID-VkMemoryAllocateInfo-None-06657",  # a Win32 import is an import operation
    "VUID-VkBufferCreateInfo-pNext-00920",  # VkExternalMemoryBufferCreateInfo::handleTypes compatibility
    "VUID-VkImageCreateInfo-pNext-00990",  # VkExternalMemoryImageCreateInfo::handleTypes compatibility
]


def load(path=VK_XML):
    return ET.parse(path).getroot()


def header_types(root):
    """Type names declared by the headers a Linux build with VK_USE_PLATFORM_WIN32_KHR compiles."""
    names = set()
    for feature in root.findall("feature"):
        if "vulkan" not in feature.get("api", "vulkan").split(","):
            continue
        for t in feature.iter("type"):
            names.add(t.get("name"))
    for ext in root.find("extensions"):
        supported = ext.get("supported", "").split(",")
        if "vulkan" not in supported:
            continue
        platform = ext.get("platform")
        if platform not in (None, "win32") or ext.get("provisional") == "true":
            continue
        for req in ext.findall("require"):
            if "vulkan" not in req.get("api", "vulkan").split(","):
                continue
            for t in req.iter("type"):
                names.add(t.get("name"))
    return names


def struct_sizes(root):
    wanted = header_types(root)
    rows = []
    for t in root.find("types"):
        if t.get("category") != "struct" or t.get("alias") or t.get("name") not in wanted:
            continue
        if "vulkan" not in t.get("api", "vulkan").split(","):
            continue
        for m in t.findall("member"):
            if m.findtext("name") == "sType" and m.get("values"):
                rows.append((m.get("values"), t.get("name")))
                break
    return sorted(set(rows))


def spec_version(root, ext_name):
    for ext in root.find("extensions"):
        if ext.get("name") != ext_name:
            continue
        for enum in ext.iter("enum"):
            if enum.get("name", "").endswith("_SPEC_VERSION"):
                return enum.get("value")
    raise SystemExit(f"{ext_name} not found in {VK_XML}")


def load_validusage(path=VALIDUSAGE_JSON):
    with open(path) as f:
        return json.load(f)["validation"]


def plain_text(text):
    """The rule's text without its HTML markup."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


def all_vuids(vu):
    out = {}
    for conditions in vu.values():
        for entries in conditions.values():
            for e in entries:
                out[e["vuid"]] = plain_text(e["text"])
    return out


def win32_vuids(vu):
    """[(vuid, text)] of the rules ntbridge must check or explain, in registry order."""
    rows = []

    def add_rules_of(names):
        for name in names:
            if name not in vu:
                raise SystemExit(f"{name} not found in {VALIDUSAGE_JSON}")
            for condition, entries in vu[name].items():
                for e in entries:
                    if name in WIN32_SOME_RULES and not (
                        "VK_KHR_external_memory_win32" in condition or WIN32_WORDS.search(e["text"])
                    ):
                        continue
                    rows.append((e["vuid"], plain_text(e["text"])))

    add_rules_of(WIN32_ALL_RULES + WIN32_SOME_RULES)
    every = all_vuids(vu)
    for vuid in WIN32_ALSO:
        if vuid not in every:
            raise SystemExit(f"{vuid} not found in {VALIDUSAGE_JSON}")
        rows.append((vuid, every[vuid]))
    add_rules_of(SYNC_ALL_RULES)
    seen = set()
    return [r for r in rows if not (r[0] in seen or seen.add(r[0]))]


def cxx_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main(argv):
    if len(argv) == 3 and argv[1] == "win32-vuids":
        with open(argv[2], "w") as out:
            out.write("// Generated by tools/codegen/registry.py from validusage.json. Do not edit.\n")
            for vuid, text in win32_vuids(load_validusage()):
                out.write(f"{{{cxx_string(vuid)}, {cxx_string(text)}}},\n")
        return 0
    if len(argv) == 2 and argv[1] == "win32-vuid-list":
        for vuid, _ in win32_vuids(load_validusage()):
            print(vuid)
        return 0
    if len(argv) == 2 and argv[1] == "all-vuid-list":
        for vuid in sorted(all_vuids(load_validusage())):
            print(vuid)
        return 0
    if len(argv) == 3 and argv[1] == "struct-sizes":
        rows = struct_sizes(load())
        with open(argv[2], "w") as out:
            out.write("// Generated by tools/codegen/registry.py from vk.xml. Do not edit.\n")
            for stype, name in rows:
                out.write(f"{{{stype}, sizeof({name})}},\n")
        return 0
    if len(argv) == 3 and argv[1] == "spec-version":
        print(spec_version(load(), argv[2]), end="")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
