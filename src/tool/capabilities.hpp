// What a physical device can do with each external memory handle type, for buffers and images
// (vkGetPhysicalDeviceExternalBufferProperties, vkGetPhysicalDeviceImageFormatProperties2).
#pragma once

#include <string>
#include <vector>

#include "errors.hpp"

namespace ntbridge::tool {

struct Capability {
  bool supported = false;  // the query succeeded and some feature is present
  bool exportable = false;
  bool importable = false;
  bool dedicated_only = false;
  VkExternalMemoryHandleTypeFlags compatible = 0;
};

struct Resource {
  std::string name;                       // "buffer" or the image format
  VkFormat format = VK_FORMAT_UNDEFINED;  // VK_FORMAT_UNDEFINED: a buffer
};

// The handle types the table lists, and the resources.
const std::vector<VkExternalMemoryHandleTypeFlagBits>& ListedHandleTypes();
const std::vector<Resource>& ListedResources();
// "OPAQUE_WIN32" for VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, and so on.
std::string HandleTypeName(VkExternalMemoryHandleTypeFlagBits type);
std::vector<std::string> HandleTypeNames(VkExternalMemoryHandleTypeFlags types);

Capability Query(VkPhysicalDevice gpu, const Resource& resource, VkExternalMemoryHandleTypeFlagBits type);

}  // namespace ntbridge::tool
