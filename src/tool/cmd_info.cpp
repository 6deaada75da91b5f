// `ntbridge info`: per physical device, the driver, its UUIDs, and which external memory handle types buffers
// and common image formats can be exported and imported with, through ntbridge and natively.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>

#include "capabilities.hpp"
#include "commands.hpp"
#include "json.hpp"
#include "layer_path.hpp"
#include "vk_session.hpp"

namespace ntbridge::tool {

namespace {

constexpr const char* kHelp = R"(usage: ntbridge info [--json]

For every Vulkan physical device: the driver, the deviceUUID and driverUUID (CUDA and other processes match
devices by them), whether VK_KHR_external_memory_win32 is available natively and through ntbridge, and for
buffers and a few common image formats which external memory handle types can be exported and imported,
and which types are compatible with each other.

"through ntbridge" is an instance with VK_LAYER_NTBRIDGE_external_win32 enabled; "native" one without it.
The layer is found through VK_ADD_LAYER_PATH; when that is unset, the tool points it at the installed or
build-tree manifest folder next to itself.

  --json    machine-readable output
  --help    this text
)";

std::string Cell(const Capability& c) {
  if (!c.supported) return "-";
  std::string text;
  if (c.exportable) text += "export ";
  if (c.importable) text += "import ";
  if (c.dedicated_only) text += "dedicated-only ";
  text += "(with:";
  for (const auto& name : HandleTypeNames(c.compatible)) text += " " + name;
  return text + ")";
}

void CapabilityJson(Json& json, const std::string& key, const std::optional<Capability>& c) {
  json.BeginObject(key);
  json.Bool("queried", c.has_value());
  if (c) {
    json.Bool("exportable", c->exportable)
        .Bool("importable", c->importable)
        .Bool("dedicatedOnly", c->dedicated_only);
    json.BeginArray("compatibleHandleTypes");
    for (const auto& name : HandleTypeNames(c->compatible)) json.StringItem(name);
    json.EndArray();
  }
  json.EndObject();
}

VkPhysicalDevice NativeTwin(const Instance* native, const uint8_t* uuid) {
  if (native == nullptr) return VK_NULL_HANDLE;
  for (VkPhysicalDevice gpu : native->PhysicalDevices()) {
    if (std::memcmp(QueryGpu(gpu).device_uuid, uuid, VK_UUID_SIZE) == 0) return gpu;
  }
  return VK_NULL_HANDLE;
}

}  // namespace

int RunInfo(const std::vector<std::string>& args) {
  bool json_output = false;
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << kHelp;
      return 0;
    }
    if (arg != "--json") throw ToolError("unknown argument '" + arg + "'", "see `ntbridge info --help`");
    json_output = true;
  }
  const std::string layer_path = EnsureLayerPath();
  Instance layered(true);
  std::unique_ptr<Instance> native;
  std::string native_error;
  try {
    native = std::make_unique<Instance>(false);
  } catch (const ToolError& e) {
    native_error = e.what();
  }

  Json json;
  json.BeginObject().String("layer", kLayerName).String("layerPath", layer_path).BeginArray("devices");
  int index = 0;
  for (VkPhysicalDevice gpu : layered.PhysicalDevices()) {
    const GpuFacts facts = QueryGpu(gpu);
    const VkPhysicalDevice twin = NativeTwin(native.get(), facts.device_uuid);
    const bool native_win32 = twin != VK_NULL_HANDLE && QueryGpu(twin).has_win32_extension;
    const std::string driver = std::string(facts.driver.driverName) + ": " + facts.driver.driverInfo;
    if (json_output) {
      json.BeginObject()
          .String("deviceName", facts.properties.deviceName)
          .Number("vendorID", facts.properties.vendorID)
          .String("driver", driver)
          .String("deviceUUID", UuidString(facts.device_uuid))
          .String("driverUUID", UuidString(facts.driver_uuid))
          .Bool("externalMemoryFd", facts.has_fd_extension)
          .Bool("externalMemoryWin32ThroughNtbridge", facts.has_win32_extension)
          .Bool("externalMemoryWin32Native", native_win32)
          .BeginArray("capabilities");
    } else {
      std::printf("GPU%d: %s\n", index, facts.properties.deviceName);
      std::printf("    driver                       = %s\n", driver.c_str());
      std::printf("    deviceUUID                   = %s\n", UuidString(facts.device_uuid).c_str());
      std::printf("    driverUUID                   = %s\n", UuidString(facts.driver_uuid).c_str());
      std::printf("    VK_KHR_external_memory_fd    = %s\n", facts.has_fd_extension ? "yes" : "no");
      std::printf("    VK_KHR_external_memory_win32 = through ntbridge: %s, native: %s\n\n",
                  facts.has_win32_extension ? "yes" : "no", native_win32 ? "yes" : "no");
      std::printf("    %-20s %-17s %-62s %s\n", "resource", "handle type", "through ntbridge", "native");
      std::printf("    %-20s %-17s %-62s %s\n", "--------", "-----------", "----------------", "------");
    }
    for (const Resource& resource : ListedResources()) {
      for (VkExternalMemoryHandleTypeFlagBits type : ListedHandleTypes()) {
        const Capability through = Query(gpu, resource, type);
        std::optional<Capability> direct;
        if (twin != VK_NULL_HANDLE) direct = Query(twin, resource, type);
        if (json_output) {
          json.BeginObject().String("resource", resource.name).String("handleType", HandleTypeName(type));
          CapabilityJson(json, "ntbridge", through);
          CapabilityJson(json, "native", direct);
          json.EndObject();
        } else {
          std::printf("    %-20s %-17s %-62s %s\n", resource.name.c_str(), HandleTypeName(type).c_str(),
                      Cell(through).c_str(), direct ? Cell(*direct).c_str() : "(not queried)");
        }
      }
    }
    if (json_output) {
      json.EndArray().EndObject();
    } else {
      std::printf("\n");
    }
    ++index;
  }
  json.EndArray();
  if (!native_error.empty()) json.String("nativeError", native_error);
  json.EndObject();
  if (json_output) {
    std::cout << json.text();
  } else {
    if (!native_error.empty()) std::printf("native instance: %s\n", native_error.c_str());
    std::printf(
        "Legend: export/import = VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE/IMPORTABLE_BIT; (with: ...) = "
        "compatibleHandleTypes; - = not supported.\nLayer manifest folder: %s\n",
        layer_path.empty() ? "(the loader's standard search paths)" : layer_path.c_str());
  }
  return 0;
}

}  // namespace ntbridge::tool
