// ntbridge: Vulkan-side helpers for shared memory, semaphores and fences. Calls go through the application's
// own device (and so through the layer); nothing here links the Vulkan loader.
#pragma once

#ifndef VK_USE_PLATFORM_WIN32_KHR
#define VK_USE_PLATFORM_WIN32_KHR 1
#endif
#include <vulkan/vulkan.h>
#include <ntbridge/handle.hpp>
#include <ntbridge/transfer.hpp>

namespace ntbridge {

// Fills device_uuid and driver_uuid of `info` from VkPhysicalDeviceIDProperties of `gpu`.
NTBRIDGE_API void FillDeviceIds(PFN_vkGetInstanceProcAddr get_instance_proc, VkInstance instance,
                                VkPhysicalDevice gpu, MemoryInfo& info);
NTBRIDGE_API void FillDeviceIds(PFN_vkGetInstanceProcAddr get_instance_proc, VkInstance instance,
                                VkPhysicalDevice gpu, SyncInfo& info);

// Turns a KMT value or a name (as `info` describes them) into an NT handle of the same payload: the user's
// broker, which keeps a descriptor of every shared payload, hands over a duplicate. The NT handle then keeps
// the payload alive by itself (a KMT value or name lives only as long as some memory object holds it).
// `device` and `get_device_proc` are not used (kept for source compatibility). For an OPAQUE_WIN32 `info`
// with a descriptor there is nothing to do: use that handle. Throws std::runtime_error saying what failed: no
// broker, no live share of that value or name (freed, or another user's), or a size other than `info`'s.
NTBRIDGE_API NtHandle OpenShareAsNtHandle(VkDevice device, PFN_vkGetDeviceProcAddr get_device_proc,
                                          const MemoryInfo& info);

// The same for a semaphore or fence: an NT handle of the payload of the KMT value or name `info` describes
// (what CudaExternalSemaphore::Import takes). Throws std::invalid_argument when `info` has neither, and
// std::runtime_error saying what failed: no broker (or one too old for semaphores and fences), no live share
// of that value or name, or one of another kind than `info.kind` (memory, a fence, a binary semaphore where
// a timeline one was said, ...).
NTBRIDGE_API NtHandle OpenShareAsNtHandle(const SyncInfo& info);

}  // namespace ntbridge
