#include "errors.hpp"

namespace ntbridge::tool {

std::string ResultName(VkResult result) {
  switch (result) {
#define NAME(x) \
  case x:       \
    return #x;
    NAME(VK_SUCCESS)
    NAME(VK_NOT_READY)
    NAME(VK_TIMEOUT)
    NAME(VK_INCOMPLETE)
    NAME(VK_ERROR_OUT_OF_HOST_MEMORY)
    NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    NAME(VK_ERROR_INITIALIZATION_FAILED)
    NAME(VK_ERROR_DEVICE_LOST)
    NAME(VK_ERROR_MEMORY_MAP_FAILED)
    NAME(VK_ERROR_LAYER_NOT_PRESENT)
    NAME(VK_ERROR_EXTENSION_NOT_PRESENT)
    NAME(VK_ERROR_FEATURE_NOT_PRESENT)
    NAME(VK_ERROR_INCOMPATIBLE_DRIVER)
    NAME(VK_ERROR_TOO_MANY_OBJECTS)
    NAME(VK_ERROR_FORMAT_NOT_SUPPORTED)
    NAME(VK_ERROR_UNKNOWN)
    NAME(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    NAME(VK_ERROR_VALIDATION_FAILED_EXT)
#undef NAME
    default:
      return "VkResult " + std::to_string(static_cast<int>(result));
  }
}

void CheckVk(VkResult result, const std::string& call, const std::string& todo) {
  if (result != VK_SUCCESS) throw ToolError(call + " failed: " + ResultName(result), todo);
}

}  // namespace ntbridge::tool
