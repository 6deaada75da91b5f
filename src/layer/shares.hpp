// Global share (KMT) values and named handles: kept by the per-user broker (DESIGN.md §4).
#pragma once

#include "dispatch.hpp"

namespace ntbridge {

// Registers the payload of `memory` (a descriptor of it is `fd`, which the call consumes) under the name of
// its VkExportMemoryWin32HandleInfoKHR. Fails when the name is in use or the broker cannot be reached.
VkResult PublishName(DeviceData& device, VkDeviceMemory memory, int fd, MemoryRecord& record);

// The KMT value of the payload of `memory`; the first call registers it with the broker.
VkResult GetGlobalShare(DeviceData& device, VkDeviceMemory memory, MemoryRecord& record, uint32_t* kmt);

// Opens a payload by KMT value or by name for import. On success `*fd` is a new descriptor the caller owns
// and `record` learns the payload's identity (the importer then holds the share alive).
VkResult OpenShare(DeviceData& device, VkExternalMemoryHandleTypeFlagBits type, HANDLE handle, LPCWSTR name,
                   const VkMemoryAllocateInfo& info, MemoryRecord& record, int* fd);

// The memory object that held a share is gone.
void ReleaseShare(DeviceData& device, const MemoryRecord& record);

// vkDestroyDevice: lets go of every share the device's memory objects still hold.
void ReleaseDeviceShares(DeviceData& device);

}  // namespace ntbridge
