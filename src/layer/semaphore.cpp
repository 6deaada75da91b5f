// Semaphores: VK_KHR_external_semaphore_win32 (creation with Win32 export, vkGetSemaphoreWin32HandleKHR,
// vkImportSemaphoreWin32HandleKHR) and the host commands, which act on a shared payload where the semaphore
// holds one (DESIGN.md §7); those are installed only on devices whose timeline semaphores may hold one
// (DeviceData::timeline_host_hooked). Queue operations are in submit.cpp.
#include <algorithm>
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

constexpr const char* kCreate = "vkCreateSemaphore";

// The shared payload `semaphore` holds now, or nullptr (the driver's object then does everything).
std::shared_ptr<shared_payload::SyncState> SharedStateOf(DeviceData& d, VkSemaphore semaphore) {
  std::shared_ptr<shared_payload::SyncState> state;
  d.semaphores.Update(semaphore, [&](SyncRecord& r) { state = r.current().shared; });
  return state;
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL CreateSemaphore(VkDevice device, const VkSemaphoreCreateInfo* info,
                                               const VkAllocationCallbacks* allocator,
                                               VkSemaphore* semaphore) {
  DeviceData* d = DeviceOf(device);
  if (!d->semaphore_win32_enabled || info == nullptr || semaphore == nullptr) {
    return d->next.CreateSemaphore(device, info, allocator, semaphore);
  }
  SyncRecord record;
  record.kind = SyncKind::kSemaphore;
  record.create_flags = info->flags;
  auto* type =
      FindInChain<VkSemaphoreTypeCreateInfo>(info->pNext, VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO);
  if (type != nullptr) {
    record.semaphore_type = type->semaphoreType;
    record.initial_value = type->initialValue;
  }
  auto* export_info =
      FindInChain<VkExportSemaphoreCreateInfo>(info->pNext, VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO);
  auto* win32 = FindInChain<VkExportSemaphoreWin32HandleInfoKHR>(
      info->pNext, VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR);
  if (export_info == nullptr && win32 == nullptr) {
    // Not exportable: the driver's object, recorded only so that a later import can find it.
    VkResult r = d->next.CreateSemaphore(device, info, allocator, semaphore);
    if (r == VK_SUCCESS) d->semaphores.Add(*semaphore, std::move(record));
    return r;
  }
  const DebugReporter& reporter = d->instance->reporter;
  const VkSemaphoreType semaphore_type = record.semaphore_type;
  if (ReportViolations(reporter, ValidateCreateSemaphore(*info, [&](uint32_t bit) {
                         return SemaphoreSupport(*d->instance, d->physical_device, semaphore_type, bit);
                       }))) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  ChainCopy chain(info->pNext);
  if (!chain.ok()) {
    ReportFatalViolation(reporter, "VUID-VkExportSemaphoreCreateInfo-handleTypes-01124",
                         std::string(kCreate) + ": pCreateInfo->pNext chain is longer than " +
                             std::to_string(kMaxChainLength) + " structures or loops");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if (export_info != nullptr) {
    record.export_types = export_info->handleTypes;
    if (auto* copy =
            chain.Find<VkExportSemaphoreCreateInfo>(VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO)) {
      const bool driver = UsesDriverPayload(*d, SyncKind::kSemaphore, semaphore_type);
      copy->handleTypes =
          driver ? SyncToDriverTypes(copy->handleTypes) : (copy->handleTypes & ~kSemaphoreWin32Types);
      if (copy->handleTypes == 0) chain.Remove(VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO);
    }
  }
  if (win32 != nullptr) {
    // Without OPAQUE_WIN32 in the export types (01125, reported above) the structure describes nothing.
    if (record.export_types & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT) {
      record.has_win32_export_info = true;
      record.access = win32->dwAccess == 0 ? GENERIC_ALL : win32->dwAccess;
      record.inherit_handle = win32->pAttributes != nullptr && win32->pAttributes->bInheritHandle;
      if (win32->name != nullptr) record.name = win32->name;
    }
    chain.Remove(VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR);
  }
  VkSemaphoreCreateInfo down = *info;
  down.pNext = chain.head();
  VkResult r = d->next.CreateSemaphore(device, &down, allocator, semaphore);
  if (r != VK_SUCCESS) return r;
  r = SetUpExport(*d, kSemaphoreSubject, reinterpret_cast<uint64_t>(*semaphore), record);
  if (r != VK_SUCCESS) {
    d->next.DestroySemaphore(device, *semaphore, allocator);
    *semaphore = VK_NULL_HANDLE;
    return r;
  }
  d->semaphores.Add(*semaphore, std::move(record));
  return VK_SUCCESS;
}

VKAPI_ATTR void VKAPI_CALL DestroySemaphore(VkDevice device, VkSemaphore semaphore,
                                            const VkAllocationCallbacks* allocator) {
  DeviceData* d = DeviceOf(device);
  if (semaphore != VK_NULL_HANDLE) {
    if (auto record = d->semaphores.Remove(semaphore)) DropRecord(*d, *record);
  }
  d->next.DestroySemaphore(device, semaphore, allocator);
}

VKAPI_ATTR VkResult VKAPI_CALL GetSemaphoreWin32HandleKHR(VkDevice device,
                                                          const VkSemaphoreGetWin32HandleInfoKHR* info,
                                                          HANDLE* handle) {
  DeviceData* d = DeviceOf(device);
  if (d == nullptr) {
    return UnknownDeviceReport("VUID-vkGetSemaphoreWin32HandleKHR-device-parameter",
                               "vkGetSemaphoreWin32HandleKHR", device);
  }
  const DebugReporter& reporter = d->instance->reporter;
  Violations violations;
  bool first = false;
  const bool found =
      d->semaphore_win32_enabled && info != nullptr &&
      d->semaphores.Update(info->semaphore, [&](SyncRecord& s) {
        const VkSemaphoreType type = s.semaphore_type;
        violations = ValidateGetSemaphoreWin32Handle(true, info, handle, &s, [&](uint32_t bit) {
          return SemaphoreSupport(*d->instance, d->physical_device, type, bit);
        });
        if (!violations.empty() || info->handleType != VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT)
          return;
        first = (s.nt_handles_fetched & info->handleType) == 0;
        s.nt_handles_fetched |= info->handleType;
      });
  if (!found) {
    violations = ValidateGetSemaphoreWin32Handle(d->semaphore_win32_enabled, info, handle, nullptr,
                                                 [](uint32_t) { return SyncHandleSupport{}; });
  }
  if (ReportViolations(reporter, violations)) return VK_ERROR_VALIDATION_FAILED_EXT;
  const uint32_t type = info->handleType;
  const bool nt = type == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  if (nt && !first &&
      ReportViolations(reporter,
                       {SyncNtHandleFetchedTwice(SyncKind::kSemaphore,
                                                 reinterpret_cast<uint64_t>(info->semaphore), type)})) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  VkResult r =
      GetSyncHandle(*d, kSemaphoreSubject, reinterpret_cast<uint64_t>(info->semaphore), type, handle);
  if (r != VK_SUCCESS && nt && first) {
    d->semaphores.Update(info->semaphore, [&](SyncRecord& s) { s.nt_handles_fetched &= ~type; });
  }
  return r;
}

VKAPI_ATTR VkResult VKAPI_CALL
ImportSemaphoreWin32HandleKHR(VkDevice device, const VkImportSemaphoreWin32HandleInfoKHR* info) {
  DeviceData* d = DeviceOf(device);
  if (d == nullptr) {
    return UnknownDeviceReport("VUID-vkImportSemaphoreWin32HandleKHR-device-parameter",
                               "vkImportSemaphoreWin32HandleKHR", device);
  }
  std::optional<SyncRecord> record;
  if (d->semaphore_win32_enabled && info != nullptr) record = d->semaphores.Find(info->semaphore);
  if (ReportViolations(d->instance->reporter,
                       ValidateImportSemaphoreWin32Handle(d->semaphore_win32_enabled, info,
                                                          record ? &*record : nullptr))) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  SyncImport import;
  import.object = reinterpret_cast<uint64_t>(info->semaphore);
  import.handle_type = info->handleType;
  import.temporary = (info->flags & VK_SEMAPHORE_IMPORT_TEMPORARY_BIT) != 0;
  import.handle = info->handle;
  import.name = info->name;
  import.info = info;
  return ImportSyncHandle(*d, kSemaphoreSubject, import);
}

VKAPI_ATTR VkResult VKAPI_CALL SignalSemaphore(VkDevice device, const VkSemaphoreSignalInfo* info) {
  DeviceData* d = DeviceOf(device);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0 || info == nullptr) {
    return d->next.SignalSemaphore(device, info);
  }
  auto state = SharedStateOf(*d, info->semaphore);
  if (!state) return d->next.SignalSemaphore(device, info);
  std::string error;
  // This device's queue waits that the signal satisfies are released (by driver signals) before the payload's
  // waiters in every process are woken (QueueBridge::SignalAndRelease).
  if (shared_payload::SignalAndReleaseWaits(*d, *state, info->value, &error) != shared_payload::Status::kOk) {
    ReportSharedPayloadFault(*d, "vkSignalSemaphore", *state, error);
    return VK_ERROR_OUT_OF_HOST_MEMORY;
  }
  return VK_SUCCESS;
}

VKAPI_ATTR VkResult VKAPI_CALL GetSemaphoreCounterValue(VkDevice device, VkSemaphore semaphore,
                                                        uint64_t* value) {
  DeviceData* d = DeviceOf(device);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0 || value == nullptr) {
    return d->next.GetSemaphoreCounterValue(device, semaphore, value);
  }
  auto state = SharedStateOf(*d, semaphore);
  if (!state) return d->next.GetSemaphoreCounterValue(device, semaphore, value);
  shared_payload::FlushBridgeOf(*d);  // what the GPU completed shows, as a driver semaphore's counter would
  std::string error;
  if (state->Read(value, &error) != shared_payload::Status::kOk) {
    ReportSharedPayloadFault(*d, "vkGetSemaphoreCounterValue", *state, error);
    return VK_ERROR_DEVICE_LOST;
  }
  return VK_SUCCESS;
}

VKAPI_ATTR VkResult VKAPI_CALL WaitSemaphores(VkDevice device, const VkSemaphoreWaitInfo* info,
                                              uint64_t timeout) {
  DeviceData* d = DeviceOf(device);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0 || info == nullptr ||
      info->semaphoreCount == 0) {
    return d->next.WaitSemaphores(device, info, timeout);
  }
  HostWait wait;
  wait.command = "vkWaitSemaphores";
  wait.any = (info->flags & VK_SEMAPHORE_WAIT_ANY_BIT) != 0;
  std::vector<VkSemaphore> driver_semaphores;
  std::vector<uint64_t> driver_values;
  for (uint32_t i = 0; i < info->semaphoreCount; ++i) {
    auto state = SharedStateOf(*d, info->pSemaphores[i]);
    if (state) {
      wait.shared.push_back({std::move(state), info->pValues[i]});
    } else {
      driver_semaphores.push_back(info->pSemaphores[i]);
      driver_values.push_back(info->pValues[i]);
    }
  }
  if (wait.shared.empty()) return d->next.WaitSemaphores(device, info, timeout);
  VkSemaphoreWaitInfo driver_info = *info;
  driver_info.semaphoreCount = static_cast<uint32_t>(driver_semaphores.size());
  driver_info.pSemaphores = driver_semaphores.data();
  driver_info.pValues = driver_values.data();
  if (!driver_semaphores.empty()) {
    wait.driver_poll = [&](uint64_t ns) { return d->next.WaitSemaphores(device, &driver_info, ns); };
  }
  return RunHostWait(*d, wait, timeout);
}

}  // namespace ntbridge
