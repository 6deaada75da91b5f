// Semaphore and fence handle types: the Win32 types the application sees and the fd types the driver has
// (the same bit values serve VkExternalSemaphoreHandleTypeFlagBits and VkExternalFenceHandleTypeFlagBits for
// OPAQUE_FD, OPAQUE_WIN32, OPAQUE_WIN32_KMT and SYNC_FD).
#pragma once

#include "vk_win32.hpp"

namespace ntbridge {

static_assert(uint32_t(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT) ==
              uint32_t(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT));
static_assert(uint32_t(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) ==
              uint32_t(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT));
static_assert(uint32_t(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) ==
              uint32_t(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT));

// The Win32 types ntbridge backs with a payload (the driver's opaque fd, or the layer's shared payload).
inline constexpr uint32_t kSyncOpaqueWin32Types = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT |
                                                  VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
inline constexpr uint32_t kSyncNtHandleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
inline constexpr uint32_t kSyncGlobalShareTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
// D3D12_FENCE (semaphores only): no Direct3D on Linux, so no payload.
inline constexpr uint32_t kSemaphoreD3DTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT;
inline constexpr uint32_t kSemaphoreWin32Types = kSyncOpaqueWin32Types | kSemaphoreD3DTypes;
inline constexpr uint32_t kFenceWin32Types = kSyncOpaqueWin32Types;

// Every bit the installed headers define.
inline constexpr uint32_t kAllKnownSemaphoreTypes =
    VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT | kSemaphoreWin32Types |
    VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT |
    VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_ZIRCON_EVENT_BIT_FUCHSIA;
inline constexpr uint32_t kAllKnownFenceTypes = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT |
                                                kFenceWin32Types | VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT;

// Win32 opaque types become the opaque fd type (driver payload); every other bit is left for the driver.
constexpr uint32_t SyncToDriverTypes(uint32_t types) {
  if (types & kSyncOpaqueWin32Types) {
    types = (types & ~kSyncOpaqueWin32Types) | VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  }
  return types;
}

const char* SemaphoreHandleTypeName(uint32_t type);
const char* FenceHandleTypeName(uint32_t type);

// What vkGetPhysicalDeviceExternalSemaphoreProperties (for one semaphore type) or
// vkGetPhysicalDeviceExternalFenceProperties answers for one handle type on a device, as the layer reports it
// to the application. Feature bits: EXPORTABLE 1, IMPORTABLE 2 (the same values for semaphores and fences).
struct SyncHandleSupport {
  uint32_t export_from_imported = 0;
  uint32_t compatible = 0;
  uint32_t features = 0;
};

}  // namespace ntbridge
