// Fences: VK_KHR_external_fence_win32 (creation with Win32 export, vkGetFenceWin32HandleKHR,
// vkImportFenceWin32HandleKHR) and the host commands, which act on a shared payload where the fence holds one
// (DESIGN.md §7). Queue submissions that signal fences are in submit.cpp.
#include <vector>

#include "dispatch.hpp"
#include "hooks.hpp"
#include "pnext.hpp"
#include "queries_sync.hpp"
#include "shared_payload/host_wait.hpp"
#include "shared_payload/queue_bridge.hpp"
#include "shared_payload/sync_state.hpp"
#include "sync.hpp"
#include "validation.hpp"
#include "validation/sync_rules.hpp"

namespace ntbridge {
namespace {

constexpr const char* kCreate = "vkCreateFence";

std::shared_ptr<shared_payload::SyncState> SharedStateOf(DeviceData& d, VkFence fence) {
  std::shared_ptr<shared_payload::SyncState> state;
  d.fences.Update(fence, [&](SyncRecord& r) { state = r.current().shared; });
  return state;
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL CreateFence(VkDevice device, const VkFenceCreateInfo* info,
                                           const VkAllocationCallbacks* allocator, VkFence* fence) {
  DeviceData* d = DeviceOf(device);
  if (!d->fence_win32_enabled || info == nullptr || fence == nullptr) {
    return d->next.CreateFence(device, info, allocator, fence);
  }
  SyncRecord record;
  record.kind = SyncKind::kFence;
  record.create_flags = info->flags;
  auto* export_info =
      FindInChain<VkExportFenceCreateInfo>(info->pNext, VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO);
  auto* win32 = FindInChain<VkExportFenceWin32HandleInfoKHR>(
      info->pNext, VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR);
  if (export_info == nullptr && win32 == nullptr) {
    VkResult r = d->next.CreateFence(device, info, allocator, fence);
    if (r == VK_SUCCESS) d->fences.Add(*fence, std::move(record));
    return r;
  }
  const DebugReporter& reporter = d->instance->reporter;
  if (ReportViolations(reporter, ValidateCreateFence(*info, [&](uint32_t bit) {
                         return FenceSupport(*d->instance, d->physical_device, bit);
                       }))) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  ChainCopy chain(info->pNext);
  if (!chain.ok()) {
    ReportFatalViolation(reporter, "VUID-VkExportFenceCreateInfo-handleTypes-01446",
                         std::string(kCreate) + ": pCreateInfo->pNext chain is longer than " +
                             std::to_string(kMaxChainLength) + " structures or loops");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if (export_info != nullptr) {
    record.export_types = export_info->handleTypes;
    if (auto* copy = chain.Find<VkExportFenceCreateInfo>(VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO)) {
      const bool driver = UsesDriverPayload(*d, SyncKind::kFence, VK_SEMAPHORE_TYPE_BINARY);
      copy->handleTypes =
          driver ? SyncToDriverTypes(copy->handleTypes) : (copy->handleTypes & ~kFenceWin32Types);
      if (copy->handleTypes == 0) chain.Remove(VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO);
    }
  }
  if (win32 != nullptr) {
    if (record.export_types & VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT) {
      record.has_win32_export_info = true;
      record.access = win32->dwAccess == 0 ? GENERIC_ALL : win32->dwAccess;
      record.inherit_handle = win32->pAttributes != nullptr && win32->pAttributes->bInheritHandle;
      if (win32->name != nullptr) record.name = win32->name;
    }
    chain.Remove(VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR);
  }
  VkFenceCreateInfo down = *info;
  down.pNext = chain.head();
  VkResult r = d->next.CreateFence(device, &down, allocator, fence);
  if (r != VK_SUCCESS) return r;
  r = SetUpExport(*d, kFenceSubject, reinterpret_cast<uint64_t>(*fence), record);
  if (r != VK_SUCCESS) {
    d->next.DestroyFence(device, *fence, allocator);
    *fence = VK_NULL_HANDLE;
    return r;
  }
  d->fences.Add(*fence, std::move(record));
  return VK_SUCCESS;
}

VKAPI_ATTR void VKAPI_CALL DestroyFence(VkDevice device, VkFence fence,
                                        const VkAllocationCallbacks* allocator) {
  DeviceData* d = DeviceOf(device);
  if (fence != VK_NULL_HANDLE) {
    if (auto record = d->fences.Remove(fence)) DropRecord(*d, *record);
  }
  d->next.DestroyFence(device, fence, allocator);
}

VKAPI_ATTR VkResult VKAPI_CALL GetFenceWin32HandleKHR(VkDevice device,
                                                      const VkFenceGetWin32HandleInfoKHR* info,
                                                      HANDLE* handle) {
  DeviceData* d = DeviceOf(device);
  if (d == nullptr) {
    return UnknownDeviceReport("VUID-vkGetFenceWin32HandleKHR-device-parameter", "vkGetFenceWin32HandleKHR",
                               device);
  }
  const DebugReporter& reporter = d->instance->reporter;
  Violations violations;
  bool first = false;
  const bool found =
      d->fence_win32_enabled && info != nullptr && d->fences.Update(info->fence, [&](SyncRecord& f) {
        violations = ValidateGetFenceWin32Handle(true, info, handle, &f, [&](uint32_t bit) {
          return FenceSupport(*d->instance, d->physical_device, bit);
        });
        if (!violations.empty() || info->handleType != VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT) return;
        first = (f.nt_handles_fetched & info->handleType) == 0;
        f.nt_handles_fetched |= info->handleType;
      });
  if (!found) {
    violations = ValidateGetFenceWin32Handle(d->fence_win32_enabled, info, handle, nullptr,
                                             [](uint32_t) { return SyncHandleSupport{}; });
  }
  if (ReportViolations(reporter, violations)) return VK_ERROR_VALIDATION_FAILED_EXT;
  const uint32_t type = info->handleType;
  const bool nt = type == VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  if (nt && !first &&
      ReportViolations(reporter, {SyncNtHandleFetchedTwice(SyncKind::kFence,
                                                           reinterpret_cast<uint64_t>(info->fence), type)})) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  VkResult r = GetSyncHandle(*d, kFenceSubject, reinterpret_cast<uint64_t>(info->fence), type, handle);
  if (r != VK_SUCCESS && nt && first) {
    d->fences.Update(info->fence, [&](SyncRecord& f) { f.nt_handles_fetched &= ~type; });
  }
  return r;
}

VKAPI_ATTR VkResult VKAPI_CALL ImportFenceWin32HandleKHR(VkDevice device,
                                                         const VkImportFenceWin32HandleInfoKHR* info) {
  DeviceData* d = DeviceOf(device);
  if (d == nullptr) {
    return UnknownDeviceReport("VUID-vkImportFenceWin32HandleKHR-device-parameter",
                               "vkImportFenceWin32HandleKHR", device);
  }
  std::optional<SyncRecord> record;
  if (d->fence_win32_enabled && info != nullptr) {
    // 04448: a fence the layer saw submitted is pending until the driver or the shared payload says
    // otherwise.
    d->fences.Update(info->fence, [&](SyncRecord& f) { record = f; });
    // The layer's own vkGetFenceStatus: it reads a shared payload where the fence holds one.
    if (record && record->fence_pending && GetFenceStatus(device, info->fence) == VK_SUCCESS) {
      // Completed behind the layer's back (a wait on another fence, vkQueueWaitIdle): not pending.
      record->fence_pending = false;
      d->fences.Update(info->fence, [](SyncRecord& f) { f.fence_pending = false; });
    }
  }
  if (ReportViolations(d->instance->reporter, ValidateImportFenceWin32Handle(d->fence_win32_enabled, info,
                                                                             record ? &*record : nullptr))) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  SyncImport import;
  import.object = reinterpret_cast<uint64_t>(info->fence);
  import.handle_type = info->handleType;
  import.temporary = (info->flags & VK_FENCE_IMPORT_TEMPORARY_BIT) != 0;
  import.handle = info->handle;
  import.name = info->name;
  import.info = info;
  return ImportSyncHandle(*d, kFenceSubject, import);
}

VKAPI_ATTR VkResult VKAPI_CALL GetFenceStatus(VkDevice device, VkFence fence) {
  DeviceData* d = DeviceOf(device);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0) return d->next.GetFenceStatus(device, fence);
  auto state = SharedStateOf(*d, fence);
  if (!state) return d->next.GetFenceStatus(device, fence);
  shared_payload::FlushBridgeOf(*d);  // what the GPU completed shows, as a driver fence's status would
  uint64_t value = 0;
  std::string error;
  if (state->Read(&value, &error) != shared_payload::Status::kOk) {
    ReportSharedPayloadFault(*d, "vkGetFenceStatus", *state, error);
    return VK_ERROR_DEVICE_LOST;
  }
  return value != 0 ? VK_SUCCESS : VK_NOT_READY;
}

VKAPI_ATTR VkResult VKAPI_CALL ResetFences(VkDevice device, uint32_t count, const VkFence* fences) {
  DeviceData* d = DeviceOf(device);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0 || fences == nullptr) {
    if (d->fence_win32_enabled && fences != nullptr) {
      for (uint32_t i = 0; i < count; ++i)
        d->fences.Update(fences[i], [](SyncRecord& f) { f.fence_pending = false; });
    }
    return d->next.ResetFences(device, count, fences);
  }
  // A signal the GPU completed before this call must not be published after the reset.
  shared_payload::FlushBridgeOf(*d);
  // A temporary import ends with the next reset (the permanent payload is restored first, then reset).
  std::vector<SyncPayloadRef> ended;
  std::vector<std::shared_ptr<shared_payload::SyncState>> shared;
  for (uint32_t i = 0; i < count; ++i) {
    d->fences.Update(fences[i], [&](SyncRecord& f) {
      if (f.temporary) {
        ended.push_back(std::move(*f.temporary));
        f.temporary.reset();
      }
      f.fence_pending = false;
      if (f.permanent.shared) shared.push_back(f.permanent.shared);
    });
  }
  for (SyncPayloadRef& ref : ended) DropTemporary(*d, ref);
  VkResult result = VK_SUCCESS;
  for (const auto& state : shared) {
    std::string error;
    if (state->Reset(&error) != shared_payload::Status::kOk) {
      ReportSharedPayloadFault(*d, "vkResetFences", *state, error);
      result = VK_ERROR_OUT_OF_HOST_MEMORY;
    }
  }
  // The driver's fences are reset too: those without a shared payload need it, and resetting the driver
  // object behind a shared payload is harmless.
  VkResult r = d->next.ResetFences(device, count, fences);
  return result != VK_SUCCESS ? result : r;
}

VKAPI_ATTR VkResult VKAPI_CALL WaitForFences(VkDevice device, uint32_t count, const VkFence* fences,
                                             VkBool32 wait_all, uint64_t timeout) {
  DeviceData* d = DeviceOf(device);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0 || fences == nullptr || count == 0) {
    return d->next.WaitForFences(device, count, fences, wait_all, timeout);
  }
  HostWait wait;
  wait.command = "vkWaitForFences";
  wait.any = !wait_all;
  std::vector<VkFence> driver_fences;
  for (uint32_t i = 0; i < count; ++i) {
    if (auto state = SharedStateOf(*d, fences[i])) {
      wait.shared.push_back({std::move(state), 0});
    } else {
      driver_fences.push_back(fences[i]);
    }
  }
  if (wait.shared.empty()) return d->next.WaitForFences(device, count, fences, wait_all, timeout);
  if (!driver_fences.empty()) {
    wait.driver_poll = [&](uint64_t ns) {
      return d->next.WaitForFences(device, static_cast<uint32_t>(driver_fences.size()), driver_fences.data(),
                                   wait_all, ns);
    };
  }
  return RunHostWait(*d, wait, timeout);
}

}  // namespace ntbridge
