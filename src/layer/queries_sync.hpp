// What semaphores and fences support through the layer on a physical device: the answers of
// vkGetPhysicalDeviceExternalSemaphoreProperties / vkGetPhysicalDeviceExternalFenceProperties, which the
// Valid Usage rules of creation (01124, 01446) are checked against too.
#pragma once

#include "dispatch.hpp"
#include "sync_handle_types.hpp"

namespace ntbridge {

// For one handle type bit. Where the layer does not emulate the extension, the driver's own answer.
SyncHandleSupport SemaphoreSupport(InstanceData& instance, VkPhysicalDevice gpu, VkSemaphoreType type,
                                   uint32_t handle_type);
SyncHandleSupport FenceSupport(InstanceData& instance, VkPhysicalDevice gpu, uint32_t handle_type);

// The driver's own answer for OPAQUE_FD (no layer logic): whether it exports and imports that type.
bool DriverSemaphoreOpaqueFd(const InstanceData& instance, VkPhysicalDevice gpu, VkSemaphoreType type);
bool DriverFenceOpaqueFd(const InstanceData& instance, VkPhysicalDevice gpu);

}  // namespace ntbridge
