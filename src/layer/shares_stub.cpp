// Placeholder until the broker lands: KMT values and names report that they are not available.
#include "shares.hpp"

#include <unistd.h>

namespace ntbridge {

VkResult PublishName(DeviceData& device, VkDeviceMemory, int fd, MemoryRecord&) {
  if (fd >= 0) close(fd);
  device.instance->reporter.Warning("ntbridge-broker", "named handles need the ntbridged broker, not built");
  return VK_ERROR_INVALID_EXTERNAL_HANDLE;
}

VkResult GetGlobalShare(DeviceData& device, VkDeviceMemory, MemoryRecord&, uint32_t*) {
  device.instance->reporter.Warning("ntbridge-broker", "KMT handles need the ntbridged broker, not built");
  return VK_ERROR_TOO_MANY_OBJECTS;
}

VkResult OpenShare(DeviceData& device, VkExternalMemoryHandleTypeFlagBits, HANDLE, LPCWSTR,
                   const VkMemoryAllocateInfo&, MemoryRecord&, int*) {
  device.instance->reporter.Warning("ntbridge-broker", "KMT and named handles need the ntbridged broker");
  return VK_ERROR_INVALID_EXTERNAL_HANDLE;
}

void ReleaseShare(DeviceData&, const MemoryRecord&) {}

}  // namespace ntbridge
