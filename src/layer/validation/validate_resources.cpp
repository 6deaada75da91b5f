// vkCreateBuffer and vkCreateImage with VkExternalMemoryBufferCreateInfo / VkExternalMemoryImageCreateInfo.
#include <cstring>

#include "handle_types.hpp"
#include "validation/rules.hpp"

namespace ntbridge {

Violations ValidateExternalMemoryCreateInfo(const char* command, VkExternalMemoryHandleTypeFlags types) {
  const bool buffer = std::strcmp(command, "vkCreateBuffer") == 0;
  const std::string field =
      std::string(command) + ": pCreateInfo->pNext<" +
      (buffer ? "VkExternalMemoryBufferCreateInfo" : "VkExternalMemoryImageCreateInfo") +
      ">.handleTypes is " + Hex(types);
  if ((types & kAllKnownTypes) != types) {
    return {{buffer ? "VUID-VkExternalMemoryBufferCreateInfo-handleTypes-parameter"
                    : "VUID-VkExternalMemoryImageCreateInfo-handleTypes-parameter",
             field + ", which has bits (" + Hex(types & ~kAllKnownTypes) +
                 ") that VkExternalMemoryHandleTypeFlagBits does not define"}};
  }
  if (types & kD3DTypes) {
    // The query reports no support for Direct3D types, so they are compatible with nothing.
    return {{buffer ? "VUID-VkBufferCreateInfo-pNext-00920" : "VUID-VkImageCreateInfo-pNext-00990",
             field + ", which includes " + HandleTypeName(types & kD3DTypes & -(types & kD3DTypes)) +
                 ": Direct3D handle types have no payload on Linux and are not supported"}};
  }
  return {};
}

}  // namespace ntbridge
