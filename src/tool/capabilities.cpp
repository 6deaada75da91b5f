#include "capabilities.hpp"

#include <cstdio>

namespace ntbridge::tool {

namespace {

Capability FromFeatures(const VkExternalMemoryProperties& properties) {
  Capability c;
  const auto f = properties.externalMemoryFeatures;
  c.exportable = (f & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT) != 0;
  c.importable = (f & VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT) != 0;
  c.dedicated_only = (f & VK_EXTERNAL_MEMORY_FEATURE_DEDICATED_ONLY_BIT) != 0;
  c.supported = c.exportable || c.importable;
  if (c.supported) c.compatible = HandleTypeNames(properties.compatibleHandleTypes);
  return c;
}

Capability QueryBuffer(VkPhysicalDevice gpu, VkExternalMemoryHandleTypeFlagBits type) {
  VkPhysicalDeviceExternalBufferInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
  info.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
               VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  info.handleType = type;
  VkExternalBufferProperties properties{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
  vkGetPhysicalDeviceExternalBufferProperties(gpu, &info, &properties);
  return FromFeatures(properties.externalMemoryProperties);
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
  return FromFeatures(external_properties.externalMemoryProperties);
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
  CapabilityTable table{VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME,
                        VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME,
                        "externalMemoryFd",
                        "externalMemoryWin32ThroughNtbridge",
                        "externalMemoryWin32Native",
                        "capabilities",
                        "resource",
                        {}};
  for (const Resource& resource : kResources) {
    for (VkExternalMemoryHandleTypeFlagBits type : kTypes) {
      const std::string type_name = HandleTypeName(type);
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

}  // namespace

const std::vector<CapabilityTable>& CapabilityTables() {
  static const std::vector<CapabilityTable> tables = {MemoryTable()};
  return tables;
}

std::string HandleTypeName(VkExternalMemoryHandleTypeFlagBits type) {
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
    default: {
      char text[16];
      std::snprintf(text, sizeof text, "0x%x", static_cast<unsigned>(type));
      return text;
    }
  }
}

std::vector<std::string> HandleTypeNames(VkExternalMemoryHandleTypeFlags types) {
  std::vector<std::string> names;
  for (uint32_t bit = 1; bit != 0; bit <<= 1) {
    if (types & bit) names.push_back(HandleTypeName(static_cast<VkExternalMemoryHandleTypeFlagBits>(bit)));
  }
  return names;
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
