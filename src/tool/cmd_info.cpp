// `ntbridge info`: per physical device, the driver, its UUIDs, and for every table of CapabilityTables()
// (memory: buffers and common image formats; binary and timeline semaphores; fences) which external handle
// types can be exported and imported, through ntbridge and by the driver alone, and which payload ntbridge
// gives semaphores and fences there.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "capabilities.hpp"
#include "commands.hpp"
#include "layer_path.hpp"
#include "native_query.hpp"
#include "vk_session.hpp"

namespace ntbridge::tool {

const char* const kInfoHelp = R"(usage: ntbridge info [--json]

For every Vulkan physical device: the driver, the deviceUUID and driverUUID (CUDA and other processes match
devices by them), and for each kind of object — memory (buffers and a few common image formats), binary and
timeline semaphores, fences — whether its Win32 extension (VK_KHR_external_memory_win32,
VK_KHR_external_semaphore_win32, VK_KHR_external_fence_win32) is available natively and through ntbridge,
which external handle types (OPAQUE_WIN32, OPAQUE_WIN32_KMT, D3D12_FENCE, OPAQUE_FD, SYNC_FD, ...) can be
exported and imported, and which types are compatible with each other.

Semaphores and fences shared through ntbridge have one of two payloads on a device: the driver's own sync
object, whose NT handle is its opaque fd (drivers with VK_KHR_external_semaphore_fd / _fence_fd, such as
NVIDIA's), or ntbridge's shared payload (drivers without, such as lavapipe). The queries tell them apart:
only the driver's payload is compatible with OPAQUE_FD. "payload" says which one each kind gets.

"through ntbridge" is an instance with VK_LAYER_NTBRIDGE_external_win32 enabled; "native" is the driver
alone, asked by a separate process with every layer left out (VK_INSTANCE_LAYERS, VK_LOADER_LAYERS_ENABLE
and the layer paths removed, VK_LOADER_LAYERS_DISABLE=~all~), which checks that the loader inserted no
ntbridge. Where that cannot be made sure, the native columns stay empty and the tool says why.
The layer is found through VK_ADD_LAYER_PATH; when that is unset, the tool points it at the installed or
build-tree manifest folder next to itself.

  --json    machine-readable output
  --help    this text
)";

namespace {

std::string Cell(const Capability& c) {
  if (!c.supported) return "-";
  std::string text;
  if (c.exportable) text += "export ";
  if (c.importable) text += "import ";
  if (c.dedicated_only) text += "dedicated-only ";
  text += "(with:";
  for (const auto& name : c.compatible) text += " " + name;
  return text + ")";
}

// The native answer of one row: none when the driver was not asked alone or does not show this device.
std::optional<Capability> NativeCell(const NativeDevice* native, const CapabilityRow& row) {
  if (native == nullptr) return std::nullopt;
  const auto it = native->rows.find(row.key);
  return it == native->rows.end() ? std::nullopt : std::optional<Capability>(it->second);
}

const char* YesNo(bool yes) { return yes ? "yes" : "no"; }

// Which payload ntbridge gives `probe`'s objects: capabilities.hpp, PayloadOf.
std::string Payload(const CapabilityTable& table, const PayloadProbe& probe, const NativeDevice* native,
                    VkPhysicalDevice gpu) {
  const CapabilityRow* row = table.Find(probe.row_key);
  const bool native_win32 = native != nullptr && native->extensions.count(table.win32_extension) != 0;
  return row == nullptr ? "none" : PayloadOf(row->query(gpu), native_win32);
}

Json DeviceJson(const GpuFacts& facts, const NativeDevice* native, VkPhysicalDevice gpu) {
  Json device = {
      {"deviceName", facts.properties.deviceName},
      {"vendorID", facts.properties.vendorID},
      {"driver", std::string(facts.driver.driverName) + ": " + facts.driver.driverInfo},
      {"deviceUUID", UuidString(facts.device_uuid)},
      {"driverUUID", UuidString(facts.driver_uuid)},
  };
  for (const CapabilityTable& table : CapabilityTables()) {
    device[table.json_fd] = facts.Has(table.fd_extension);
    device[table.json_through] = facts.Has(table.win32_extension);
    // null: not known (the driver could not be asked alone, or does not show this device without layers).
    device[table.json_native] =
        native != nullptr ? Json(native->extensions.count(table.win32_extension) != 0) : Json(nullptr);
    if (!table.json_payload.empty()) {
      Json payloads = Json::object();
      for (const PayloadProbe& probe : table.payloads)
        payloads[probe.resource] = Payload(table, probe, native, gpu);
      device[table.json_payload] = std::move(payloads);
    }
    Json rows = Json::array();
    for (const CapabilityRow& row : table.rows) {
      rows.push_back({{"key", row.key},
                      {"resource", row.resource},
                      {"handleType", row.handle_type},
                      {"ntbridge", CapabilityJson(row.query(gpu))},
                      {"native", CapabilityJson(NativeCell(native, row))}});
    }
    device[table.json_rows] = std::move(rows);
  }
  return device;
}

void PrintDevice(int index, const GpuFacts& facts, const NativeDevice* native, VkPhysicalDevice gpu) {
  // The facts of the device align with the first table's, each table's with each other.
  const CapabilityTable& first = CapabilityTables().front();
  const int w = static_cast<int>(
      std::max({std::strlen("driverUUID"), first.fd_extension.size(), first.win32_extension.size()}));
  const std::string driver = std::string(facts.driver.driverName) + ": " + facts.driver.driverInfo;
  std::printf("GPU%d: %s\n", index, facts.properties.deviceName);
  std::printf("    %-*s = %s\n", w, "driver", driver.c_str());
  std::printf("    %-*s = %s\n", w, "deviceUUID", UuidString(facts.device_uuid).c_str());
  std::printf("    %-*s = %s\n", w, "driverUUID", UuidString(facts.driver_uuid).c_str());
  for (const CapabilityTable& table : CapabilityTables()) {
    const int width = static_cast<int>(std::max(table.fd_extension.size(), table.win32_extension.size()));
    const char* natively =
        native == nullptr ? "unknown" : YesNo(native->extensions.count(table.win32_extension));
    std::printf("    %-*s = %s\n", width, table.fd_extension.c_str(), YesNo(facts.Has(table.fd_extension)));
    std::printf("    %-*s = through ntbridge: %s, native: %s\n", width, table.win32_extension.c_str(),
                YesNo(facts.Has(table.win32_extension)), natively);
    for (const PayloadProbe& probe : table.payloads) {
      const std::string label = "payload (" + probe.resource + ")";
      std::printf("    %-*s = %s\n", width, label.c_str(),
                  PayloadText(Payload(table, probe, native, gpu)).c_str());
    }
    std::printf("\n");
    std::printf("    %-20s %-17s %-62s %s\n", table.resource_heading.c_str(), "handle type",
                "through ntbridge", "native");
    std::printf("    %-20s %-17s %-62s %s\n", std::string(table.resource_heading.size(), '-').c_str(),
                "-----------", "----------------", "------");
    for (const CapabilityRow& row : table.rows) {
      const std::optional<Capability> direct = NativeCell(native, row);
      std::printf("    %-20s %-17s %-62s %s\n", row.resource.c_str(), row.handle_type.c_str(),
                  Cell(row.query(gpu)).c_str(), direct ? Cell(*direct).c_str() : "(not queried)");
    }
    std::printf("\n");
  }
}

}  // namespace

int RunInfo(const InfoOptions& options) {
  const std::string layer_path = EnsureLayerPath();
  Instance layered(true);
  const NativeAnswers native = AskDriverAlone();

  Json json = {{"layer", kLayerName}, {"layerPath", layer_path}, {"devices", Json::array()}};
  int index = 0;
  for (VkPhysicalDevice gpu : layered.PhysicalDevices()) {
    const GpuFacts facts = QueryGpu(gpu);
    const NativeDevice* twin = native.Find(UuidString(facts.device_uuid));
    if (options.json) {
      json["devices"].push_back(DeviceJson(facts, twin, gpu));
    } else {
      PrintDevice(index, facts, twin, gpu);
    }
    ++index;
  }
  json["nativeDriverAlone"] = native.asked;
  if (!native.asked) json["nativeError"] = "could not ask the driver alone: " + native.why;
  if (options.json) {
    std::cout << JsonText(json);
    return 0;
  }
  if (!native.asked) {
    std::printf(
        "native: could not ask the driver alone: %s\n  (the native columns are left empty; "
        "`VK_LOADER_DEBUG=layer "
        "ntbridge info` shows which layers the loader inserts and from which manifests)\n",
        native.why.c_str());
  }
  std::printf(
      "Legend: export/import = VK_EXTERNAL_{MEMORY,SEMAPHORE,FENCE}_FEATURE_EXPORTABLE/IMPORTABLE_BIT; "
      "(with: ...) = compatibleHandleTypes; - = not supported; native = the driver alone (a process without "
      "layers); payload = what an NT handle of a semaphore or fence refers to (the driver's payload is "
      "compatible with OPAQUE_FD, ntbridge's shared payload is not).\n"
      "Layer manifest folder: %s\n",
      layer_path.empty() ? "(the loader's standard search paths)" : layer_path.c_str());
  return 0;
}

}  // namespace ntbridge::tool
