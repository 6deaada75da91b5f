// The Valid Usage rules of VK_KHR_external_semaphore_win32 and VK_KHR_external_fence_win32 (and of
// VkExportSemaphoreCreateInfo, VkExportFenceCreateInfo, VkD3D12FenceSubmitInfoKHR where the Win32 types
// touch them), as pure functions of a command's parameters and of what the layer recorded. Same conventions
// as validation/rules.hpp: the rules broken in the order the spec lists them, stopping at the first fatal
// one.
#pragma once

#include <functional>

#include "sync_handle_types.hpp"
#include "sync_record.hpp"
#include "validation.hpp"
#include "vk_win32.hpp"

namespace ntbridge {

// What the device supports, as the queries report it: `support(type_bit)` for one handle type bit.
using SyncSupportQuery = std::function<SyncHandleSupport(uint32_t handle_type)>;

// vkCreateSemaphore: VkExportSemaphoreCreateInfo (01124 for the Win32 bits, handleTypes-parameter) and
// VkExportSemaphoreWin32HandleInfoKHR (01125, pAttributes-parameter). `support` answers for the semaphore
// type being created (binary or timeline).
Violations ValidateCreateSemaphore(const VkSemaphoreCreateInfo& info, const SyncSupportQuery& support);
// vkCreateFence: VkExportFenceCreateInfo (01446, handleTypes-parameter), VkExportFenceWin32HandleInfoKHR
// (01447, pAttributes-parameter).
Violations ValidateCreateFence(const VkFenceCreateInfo& info, const SyncSupportQuery& support);

// vkGetSemaphoreWin32HandleKHR. `record`: the layer's record of the semaphore, nullptr when unknown.
// 01127 (second NT handle) needs the table's atomic check-and-set: see SyncNtHandleFetchedTwice.
// `support` answers for the record's semaphore type; it is asked only when the semaphore holds an imported
// payload (01128: VkExternalSemaphoreProperties::exportFromImportedHandleTypes).
Violations ValidateGetSemaphoreWin32Handle(bool extension_enabled,
                                           const VkSemaphoreGetWin32HandleInfoKHR* info,
                                           const HANDLE* pHandle, const SyncRecord* record,
                                           const SyncSupportQuery& support);
// vkGetFenceWin32HandleKHR. `support`: as for semaphores (01450).
Violations ValidateGetFenceWin32Handle(bool extension_enabled, const VkFenceGetWin32HandleInfoKHR* info,
                                       const HANDLE* pHandle, const SyncRecord* record,
                                       const SyncSupportQuery& support);
// VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01127 /
// VUID-VkFenceGetWin32HandleInfoKHR-handleType-01449.
Violation SyncNtHandleFetchedTwice(SyncKind kind, uint64_t object, uint32_t handle_type);

// vkImportSemaphoreWin32HandleKHR: what the parameters alone decide.
Violations ValidateImportSemaphoreWin32Handle(bool extension_enabled,
                                              const VkImportSemaphoreWin32HandleInfoKHR* info,
                                              const SyncRecord* record);
// vkImportFenceWin32HandleKHR: what the parameters alone decide, and 04448 from record->fence_pending.
Violations ValidateImportFenceWin32Handle(bool extension_enabled, const VkImportFenceWin32HandleInfoKHR* info,
                                          const SyncRecord* record);

// What is known of the object a payload was exported from (the broker's record, or this process's).
struct SyncExporter {
  SyncKind kind = SyncKind::kSemaphore;
  VkSemaphoreType semaphore_type = VK_SEMAPHORE_TYPE_BINARY;
  uint32_t create_flags = 0;
  uint8_t device_uuid[VK_UUID_SIZE] = {};
  uint8_t driver_uuid[VK_UUID_SIZE] = {};
};

// Importing into `record` (the importing object) a payload whose exporter is known: 03261 (flags), 03262
// (semaphoreType), 03322 (temporary import of a timeline payload), 01542 / 01543 (the compatibility table:
// same deviceUUID and driverUUID). Which of the two is reported follows info.name: a named payload is 01543,
// a handle 01542. An exporter of the other kind is not compared: the caller refuses that payload as an
// invalid handle (VK_ERROR_INVALID_EXTERNAL_HANDLE, DESIGN.md §7) before asking.
Violations ValidateImportSemaphoreFromExporter(const VkImportSemaphoreWin32HandleInfoKHR& info,
                                               const SyncRecord& record, const SyncExporter& exporter,
                                               const uint8_t (&device_uuid)[VK_UUID_SIZE],
                                               const uint8_t (&driver_uuid)[VK_UUID_SIZE]);
// Fences: 01539 / 01540.
Violations ValidateImportFenceFromExporter(const VkImportFenceWin32HandleInfoKHR& info,
                                           const SyncRecord& record, const SyncExporter& exporter,
                                           const uint8_t (&device_uuid)[VK_UUID_SIZE],
                                           const uint8_t (&driver_uuid)[VK_UUID_SIZE]);

// vkQueueSubmit: a VkD3D12FenceSubmitInfoKHR in pSubmits[index]'s chain (00079, 00080, the -parameter rules).
// `d3d12` is that structure.
Violations ValidateD3D12FenceSubmitInfo(const VkSubmitInfo& submit, uint32_t index,
                                        const VkD3D12FenceSubmitInfoKHR& d3d12);

}  // namespace ntbridge
