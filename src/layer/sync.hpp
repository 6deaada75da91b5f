// What semaphores and fences share (DESIGN.md §2, §7): which payload an exportable object gets, NT handles,
// KMT values and names of sync payloads, and imports — one implementation for both kinds. semaphore.cpp and
// fence.cpp translate their commands' structures and call these.
#pragma once

#include <string>

#include "dispatch.hpp"
#include "sync_handle_types.hpp"
#include "sync_record.hpp"

namespace ntbridge {

// How messages and the broker call an object of one kind, and the commands of that kind.
struct SyncSubject {
  SyncKind kind = SyncKind::kSemaphore;
  const char* get_command = "";     // vkGetSemaphoreWin32HandleKHR / vkGetFenceWin32HandleKHR
  const char* import_command = "";  // vkImportSemaphoreWin32HandleKHR / vkImportFenceWin32HandleKHR
  const char* create_command = "";  // vkCreateSemaphore / vkCreateFence
  const char* export_struct = "";   // VkExportSemaphoreWin32HandleInfoKHR / VkExportFenceWin32HandleInfoKHR
  const char* import_struct = "";   // VkImportSemaphoreWin32HandleInfoKHR / VkImportFenceWin32HandleInfoKHR
};
extern const SyncSubject kSemaphoreSubject;
extern const SyncSubject kFenceSubject;

// Whether new exportable objects of this kind (and semaphore type) get the driver's payload on `device`.
bool UsesDriverPayload(const DeviceData& device, SyncKind kind, VkSemaphoreType type);

// vkCreateSemaphore / vkCreateFence made `object` exportable with Win32 types: gives `record` its shared
// payload when the device uses one, and registers the name of VkExport*Win32HandleInfoKHR. On failure the
// caller destroys the driver's object.
VkResult SetUpExport(DeviceData& device, const SyncSubject& subject, uint64_t object, SyncRecord& record);

// vkGet*Win32HandleKHR after validation: an NT handle or a KMT value of the object's current payload.
VkResult GetSyncHandle(DeviceData& device, const SyncSubject& subject, uint64_t object, uint32_t handle_type,
                       HANDLE* handle);

// What vkImport*Win32HandleKHR asks, in the terms both kinds share.
struct SyncImport {
  uint64_t object = 0;
  uint32_t handle_type = 0;
  bool temporary = false;
  HANDLE handle = nullptr;
  LPCWSTR name = nullptr;
  // Passed to the rules checked against the exporter (validation/sync_rules.hpp).
  const void* info = nullptr;  // VkImportSemaphoreWin32HandleInfoKHR* / VkImportFenceWin32HandleInfoKHR*
};
// vkImport*Win32HandleKHR after the parameter rules: opens the payload, checks it against its exporter where
// known, and makes it the object's temporary or permanent payload.
VkResult ImportSyncHandle(DeviceData& device, const SyncSubject& subject, const SyncImport& import);

// A temporary import ends (the spec restores the permanent payload): lets go of what it holds.
void DropTemporary(DeviceData& device, SyncPayloadRef& ref);
// The object is destroyed: drops its payloads.
void DropRecord(DeviceData& device, SyncRecord& record);
// Whether queue submissions must look at this reference (a shared payload).
inline bool NeedsBridge(const SyncPayloadRef& ref) { return ref.kind == SyncPayload::kShared; }

}  // namespace ntbridge
