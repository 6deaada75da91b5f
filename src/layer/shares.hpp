// Global share (KMT) values and named handles: kept by the per-user broker (DESIGN.md §4).
#pragma once

#include <sys/stat.h>

#include <string>

#include "dispatch.hpp"
#include "protocol.hpp"

namespace ntbridge {

// The object kind's side of a share request: what messages call the object and its fields.
struct ShareSubject {
  protocol::ObjectKind kind = protocol::ObjectKind::kMemory;
  const char* command = "";     // "vkAllocateMemory", "vkCreateSemaphore", "vkImportFenceWin32HandleKHR"...
  const char* name_field = "";  // "VkExportMemoryWin32HandleInfoKHR::name"...
};

// The generic handle model of the broker, for every object kind (memory, semaphores, fences).
//
// Registers the payload behind `fd` (consumed) under `name` (when not NULL) and/or with a KMT value (`kmt`).
// On success `*payload` (and `*kmt_value` when asked) are set and this device holds the payload until
// ReleasePayload.
VkResult PublishPayload(DeviceData& device, const ShareSubject& subject, const protocol::PayloadInfo& info,
                        LPCWSTR name, bool kmt, int fd, uint64_t* payload, uint32_t* kmt_value);
// The KMT value of a payload this device holds (issued on first request). VK_ERROR_INVALID_EXTERNAL_HANDLE
// with `*lost` set when the broker no longer knows it (it died: publish again).
VkResult ShareKmtOf(DeviceData& device, const ShareSubject& subject, uint64_t payload, uint32_t* kmt,
                    bool* lost);
// Opens a payload by KMT value (`name` NULL) or by name, of `subject.kind`. On success `*fd` is a new
// descriptor the caller owns, `reply` says what the exporter recorded, and this device holds the payload
// until ReleasePayload.
VkResult OpenPayload(DeviceData& device, const ShareSubject& subject, HANDLE kmt_handle, LPCWSTR name,
                     protocol::OpenReply* reply, int* fd);
// This device lets go of one hold on `payload`.
void ReleasePayload(DeviceData& device, uint64_t payload);
// The exporter's physical device, for messages.
std::string UuidString(const uint8_t* uuid);

// Registers the payload of `memory` (a descriptor of it is `fd`, which the call consumes) under the name of
// its VkExportMemoryWin32HandleInfoKHR. Fails when the name is in use or the broker cannot be reached.
VkResult PublishName(DeviceData& device, VkDeviceMemory memory, int fd, MemoryRecord& record);

// The KMT value of the payload of `memory`; the first call registers it with the broker.
VkResult GetGlobalShare(DeviceData& device, VkDeviceMemory memory, MemoryRecord& record, uint32_t* kmt);

// Opens a payload by KMT value or by name for import. On success `*fd` is a new descriptor the caller owns,
// `*st` is fstat's answer for it (from a broker of revision 5, what its fstat said at publish: protocol.hpp),
// and `record` learns the payload's identity (the importer then holds the share alive).
VkResult OpenShare(DeviceData& device, VkExternalMemoryHandleTypeFlagBits type, HANDLE handle, LPCWSTR name,
                   const VkMemoryAllocateInfo& info, MemoryRecord& record, int* fd, struct stat* st);

// The memory object that held a share is gone.
void ReleaseShare(DeviceData& device, const MemoryRecord& record);

// vkDestroyDevice: lets go of every share the device's memory objects still hold.
void ReleaseDeviceShares(DeviceData& device);

}  // namespace ntbridge
