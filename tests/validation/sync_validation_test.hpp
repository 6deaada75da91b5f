// Negative tests of VK_KHR_external_semaphore_win32 and VK_KHR_external_fence_win32 through the real loader:
// each expects exactly one message, the VUID under test, from ntbridge, and a failed command.
#pragma once

#include <string>

#include "sync_support.hpp"
#include "validation_test.hpp"

namespace ntbridge::test {

inline constexpr auto kSemFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
inline constexpr auto kSemSyncFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
inline constexpr auto kSemD3D12 = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT;
inline constexpr auto kFenceFd = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT;
inline constexpr auto kFenceSyncFd = VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT;
inline constexpr uint64_t kMs = 1000 * 1000;

// Whether semaphores of `type` hold the driver's own payload (its opaque fd) rather than ntbridge's shared
// payload: the driver then exports opaque fd semaphores itself.
inline bool DriverSemaphorePayload(VkPhysicalDevice gpu, VkSemaphoreType type) {
  VkSemaphoreTypeCreateInfo t{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr, type, 0};
  VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO, &t,
                                             VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT};
  VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
  vkGetPhysicalDeviceExternalSemaphoreProperties(gpu, &info, &props);
  return (props.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT) != 0;
}

class SyncValidation : public SyncTest {
 protected:
  std::string ExpectOnly(const char* vuid, const char* command, const std::string& detail = {}) {
    return ExpectOnlyMessage(s->vk->monitor, vuid, command, detail);
  }
  VkDevice device() const { return s->dev->device; }
};

}  // namespace ntbridge::test
