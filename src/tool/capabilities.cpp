#include "capabilities.hpp"

#include <algorithm>
#include <cstdio>

namespace ntbridge::tool {

namespace {

Capability FromMemoryFeatures(const VkExternalMemoryProperties& properties) {
  Capability c;
  const auto f = properties.externalMemoryFeatures;
  c.exportable = (f & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT) != 0;
  c.importable = (f & VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT) != 0;
  c.dedicated_only = (f & VK_EXTERNAL_MEMORY_FEATURE_DEDICATED_ONLY_BIT) != 0;
  c.supported = c.exportable || c.importable;
  if (c.supported) c.compatible = HandleTypeNames(ObjectKind::kMemory, properties.compatibleHandleTypes);
  return c;
}

// Semaphores and fences: their EXPORTABLE and IMPORTABLE bits have the same values.
Capability FromSyncFeatures(ObjectKind kind, uint32_t features, uint32_t compatible) {
  static_assert(uint32_t(VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT) ==
                    uint32_t(VK_EXTERNAL_FENCE_FEATURE_EXPORTABLE_BIT) &&
                uint32_t(VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT) ==
                    uint32_t(VK_EXTERNAL_FENCE_FEATURE_IMPORTABLE_BIT));
  Capability c;
  c.exportable = (features & VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT) != 0;
  c.importable = (features & VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT) != 0;
  c.supported = c.exportable || c.importable;
  if (c.supported) c.compatible = HandleTypeNames(kind, compatible);
  return c;
}

Capability QueryBuffer(VkPhysicalDevice gpu, VkExternalMemoryHandleTypeFlagBits type) {
  VkPhysicalDeviceExternalBufferInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
  info.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
               VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  info.handleType = type;
  VkExternalBufferProperties properties{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
  vkGetPhysicalDeviceExternalBufferProperties(gpu, &info, &properties);
  return FromMemoryFeatures(properties.externalMemoryProperties);
}

Capability QueryImage(VkPhysicalDevice gpu, VkFormat format, VkExternalMemoryHandleTypeFlagBits type) {
  const bool depth = format == VK_FORMAT_D32_SFLOAT;
  VkPhysicalDeviceExternalImageFormatInfo external{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_IMAGE_FORMAT_INFO};
  external.handleType = type;
  VkPhysicalDeviceImageFormatInfo2 info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_IMAGE_FORMAT_INFO_2, &external};
  info.format = format;
  info.type = VK_IMAGE_TYPE_2D;
  info.tiling = VK_IMAGE_TILING_OPTIMAL;
  info.usage = VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT |
               (depth ? VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT : VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT);
  VkExternalImageFormatProperties external_properties{VK_STRUCTURE_TYPE_EXTERNAL_IMAGE_FORMAT_PROPERTIES};
  VkImageFormatProperties2 properties{VK_STRUCTURE_TYPE_IMAGE_FORMAT_PROPERTIES_2, &external_properties};
  if (vkGetPhysicalDeviceImageFormatProperties2(gpu, &info, &properties) != VK_SUCCESS) return {};
  return FromMemoryFeatures(external_properties.externalMemoryProperties);
}

Capability QuerySemaphore(VkPhysicalDevice gpu, VkSemaphoreType type,
                          VkExternalSemaphoreHandleTypeFlagBits handle_type) {
  VkSemaphoreTypeCreateInfo timeline{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr, type, 0};
  VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO,
                                             type == VK_SEMAPHORE_TYPE_TIMELINE ? &timeline : nullptr,
                                             handle_type};
  VkExternalSemaphoreProperties properties{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
  vkGetPhysicalDeviceExternalSemaphoreProperties(gpu, &info, &properties);
  return FromSyncFeatures(ObjectKind::kSemaphore, properties.externalSemaphoreFeatures,
                          properties.compatibleHandleTypes);
}

Capability QueryFence(VkPhysicalDevice gpu, VkExternalFenceHandleTypeFlagBits handle_type) {
  VkPhysicalDeviceExternalFenceInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_FENCE_INFO, nullptr,
                                         handle_type};
  VkExternalFenceProperties properties{VK_STRUCTURE_TYPE_EXTERNAL_FENCE_PROPERTIES};
  vkGetPhysicalDeviceExternalFenceProperties(gpu, &info, &properties);
  return FromSyncFeatures(ObjectKind::kFence, properties.externalFenceFeatures,
                          properties.compatibleHandleTypes);
}

CapabilityTable MemoryTable() {
  static const VkExternalMemoryHandleTypeFlagBits kTypes[] = {
      VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT,  VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT,
      VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT, VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT,
      VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,     VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT,
  };
  struct Resource {
    const char* name;
    VkFormat format;  // VK_FORMAT_UNDEFINED: a buffer
  };
  static const Resource kResources[] = {
      {"buffer", VK_FORMAT_UNDEFINED},
      {"R8G8B8A8_UNORM", VK_FORMAT_R8G8B8A8_UNORM},
      {"B8G8R8A8_UNORM", VK_FORMAT_B8G8R8A8_UNORM},
      {"R16G16B16A16_SFLOAT", VK_FORMAT_R16G16B16A16_SFLOAT},
      {"R32_SFLOAT", VK_FORMAT_R32_SFLOAT},
      {"D32_SFLOAT", VK_FORMAT_D32_SFLOAT},
  };
  CapabilityTable table{ObjectKind::kMemory,
                        VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME,
                        VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME,
                        "externalMemoryFd",
                        "externalMemoryWin32ThroughNtbridge",
                        "externalMemoryWin32Native",
                        "capabilities",
                        "",
                        "resource",
                        {},
                        {}};
  for (const Resource& resource : kResources) {
    for (VkExternalMemoryHandleTypeFlagBits type : kTypes) {
      const std::string type_name = HandleTypeName(ObjectKind::kMemory, type);
      const VkFormat format = resource.format;
      table.rows.push_back({"memory/" + std::string(resource.name) + "/" + type_name, resource.name,
                            type_name, [format, type](VkPhysicalDevice gpu) {
                              return format == VK_FORMAT_UNDEFINED ? QueryBuffer(gpu, type)
                                                                   : QueryImage(gpu, format, type);
                            }});
    }
  }
  return table;
}

CapabilityTable SemaphoreTable() {
  static const VkExternalSemaphoreHandleTypeFlagBits kTypes[] = {
      VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT,
      VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT,
      VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT,
      VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT,
      VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT,
  };
  CapabilityTable table{ObjectKind::kSemaphore,
                        VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME,
                        VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME,
                        "externalSemaphoreFd",
                        "externalSemaphoreWin32ThroughNtbridge",
                        "externalSemaphoreWin32Native",
                        "semaphoreCapabilities",
                        "semaphorePayloads",
                        "semaphore",
                        {},
                        {}};
  for (const VkSemaphoreType semaphore_type : {VK_SEMAPHORE_TYPE_BINARY, VK_SEMAPHORE_TYPE_TIMELINE}) {
    const std::string resource = semaphore_type == VK_SEMAPHORE_TYPE_TIMELINE ? "timeline" : "binary";
    for (VkExternalSemaphoreHandleTypeFlagBits type : kTypes) {
      const std::string type_name = HandleTypeName(ObjectKind::kSemaphore, type);
      table.rows.push_back({"semaphore/" + resource + "/" + type_name, resource, type_name,
                            [semaphore_type, type](VkPhysicalDevice gpu) {
                              return QuerySemaphore(gpu, semaphore_type, type);
                            }});
    }
    table.payloads.push_back({resource, "semaphore/" + resource + "/OPAQUE_WIN32"});
  }
  return table;
}

CapabilityTable FenceTable() {
  static const VkExternalFenceHandleTypeFlagBits kTypes[] = {
      VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT,
      VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT,
      VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT,
      VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT,
  };
  CapabilityTable table{ObjectKind::kFence,
                        VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME,
                        VK_KHR_EXTERNAL_FENCE_WIN32_EXTENSION_NAME,
                        "externalFenceFd",
                        "externalFenceWin32ThroughNtbridge",
                        "externalFenceWin32Native",
                        "fenceCapabilities",
                        "fencePayloads",
                        "fence",
                        {},
                        {}};
  for (VkExternalFenceHandleTypeFlagBits type : kTypes) {
    const std::string type_name = HandleTypeName(ObjectKind::kFence, type);
    table.rows.push_back({"fence/" + type_name, "fence", type_name,
                          [type](VkPhysicalDevice gpu) { return QueryFence(gpu, type); }});
  }
  table.payloads.push_back({"fence", "fence/OPAQUE_WIN32"});
  return table;
}

}  // namespace

const CapabilityRow* CapabilityTable::Find(const std::string& key) const {
  for (const CapabilityRow& row : rows) {
    if (row.key == key) return &row;
  }
  return nullptr;
}

const std::vector<CapabilityTable>& CapabilityTables() {
  static const std::vector<CapabilityTable> tables = {MemoryTable(), SemaphoreTable(), FenceTable()};
  return tables;
}

namespace {

const char* MemoryTypeName(uint32_t type) {
  switch (type) {
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT:
      return "OPAQUE_FD";
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT:
      return "OPAQUE_WIN32";
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT:
      return "OPAQUE_WIN32_KMT";
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT:
      return "D3D11_TEXTURE";
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_KMT_BIT:
      return "D3D11_TEXTURE_KMT";
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT:
      return "D3D12_HEAP";
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT:
      return "D3D12_RESOURCE";
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT:
      return "DMA_BUF";
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT:
      return "HOST_ALLOCATION";
    case VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_MAPPED_FOREIGN_MEMORY_BIT_EXT:
      return "HOST_MAPPED_FOREIGN_MEMORY";
    default:
      return nullptr;
  }
}

const char* SemaphoreTypeName(uint32_t type) {
  switch (type) {
    case VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT:
      return "OPAQUE_FD";
    case VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT:
      return "OPAQUE_WIN32";
    case VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT:
      return "OPAQUE_WIN32_KMT";
    case VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT:
      return "D3D12_FENCE";
    case VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT:
      return "SYNC_FD";
    default:
      return nullptr;
  }
}

const char* FenceTypeName(uint32_t type) {
  switch (type) {
    case VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT:
      return "OPAQUE_FD";
    case VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT:
      return "OPAQUE_WIN32";
    case VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT:
      return "OPAQUE_WIN32_KMT";
    case VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT:
      return "SYNC_FD";
    default:
      return nullptr;
  }
}

}  // namespace

std::string HandleTypeName(ObjectKind kind, uint32_t type) {
  const char* name = kind == ObjectKind::kMemory      ? MemoryTypeName(type)
                     : kind == ObjectKind::kSemaphore ? SemaphoreTypeName(type)
                                                      : FenceTypeName(type);
  if (name != nullptr) return name;
  char text[16];
  std::snprintf(text, sizeof text, "0x%x", static_cast<unsigned>(type));
  return text;
}

std::vector<std::string> HandleTypeNames(ObjectKind kind, uint32_t types) {
  std::vector<std::string> names;
  for (uint32_t bit = 1; bit != 0; bit <<= 1) {
    if (types & bit) names.push_back(HandleTypeName(kind, bit));
  }
  return names;
}

std::string PayloadOf(const Capability& opaque_win32, bool native_win32) {
  if (native_win32) return "native";
  if (!opaque_win32.exportable || !opaque_win32.importable) return "none";
  const auto& c = opaque_win32.compatible;
  return std::find(c.begin(), c.end(), "OPAQUE_FD") != c.end() ? "driver" : "shared";
}

std::string PayloadText(const std::string& payload) {
  if (payload == "driver") return "the driver's own (its opaque fd)";
  if (payload == "shared") return "ntbridge's shared payload (a sealed memfd the layer keeps)";
  if (payload == "native") return "the driver's own Win32 extension (ntbridge steps aside)";
  return "none (not shareable as OPAQUE_WIN32)";
}

Json CapabilityJson(const std::optional<Capability>& capability) {
  Json cell = {{"queried", capability.has_value()}};
  if (capability) {
    cell["exportable"] = capability->exportable;
    cell["importable"] = capability->importable;
    cell["dedicatedOnly"] = capability->dedicated_only;
    cell["compatibleHandleTypes"] = capability->compatible;
  }
  return cell;
}

std::optional<Capability> CapabilityFromJson(const Json& cell) {
  if (!cell.at("queried").get<bool>()) return std::nullopt;
  Capability c;
  c.exportable = cell.at("exportable").get<bool>();
  c.importable = cell.at("importable").get<bool>();
  c.dedicated_only = cell.at("dedicatedOnly").get<bool>();
  c.compatible = cell.at("compatibleHandleTypes").get<std::vector<std::string>>();
  c.supported = c.exportable || c.importable;
  return c;
}

}  // namespace ntbridge::tool
