// Capability queries of semaphores and fences: the Win32 types through the driver's opaque fd where the
// driver payload is used, and what the shared payload offers where it is not (DESIGN.md §7).
#include "queries_sync.hpp"

#include "hooks.hpp"
#include "pnext.hpp"

namespace ntbridge {
namespace {

constexpr uint32_t kExportImport =
    VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
static_assert(uint32_t(VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT) ==
              uint32_t(VK_EXTERNAL_FENCE_FEATURE_EXPORTABLE_BIT));
static_assert(uint32_t(VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT) ==
              uint32_t(VK_EXTERNAL_FENCE_FEATURE_IMPORTABLE_BIT));

SyncHandleSupport DriverSemaphore(const InstanceData& inst, VkPhysicalDevice gpu, VkSemaphoreType type,
                                  uint32_t handle_type) {
  if (inst.next.GetPhysicalDeviceExternalSemaphoreProperties == nullptr) return {};
  VkSemaphoreTypeCreateInfo t{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr, type, 0};
  VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO,
                                             type == VK_SEMAPHORE_TYPE_TIMELINE ? &t : nullptr,
                                             static_cast<VkExternalSemaphoreHandleTypeFlagBits>(handle_type)};
  VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
  inst.next.GetPhysicalDeviceExternalSemaphoreProperties(gpu, &info, &props);
  return {props.exportFromImportedHandleTypes, props.compatibleHandleTypes, props.externalSemaphoreFeatures};
}

SyncHandleSupport DriverFence(const InstanceData& inst, VkPhysicalDevice gpu, uint32_t handle_type) {
  if (inst.next.GetPhysicalDeviceExternalFenceProperties == nullptr) return {};
  VkPhysicalDeviceExternalFenceInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_FENCE_INFO, nullptr,
                                         static_cast<VkExternalFenceHandleTypeFlagBits>(handle_type)};
  VkExternalFenceProperties props{VK_STRUCTURE_TYPE_EXTERNAL_FENCE_PROPERTIES};
  inst.next.GetPhysicalDeviceExternalFenceProperties(gpu, &info, &props);
  return {props.exportFromImportedHandleTypes, props.compatibleHandleTypes, props.externalFenceFeatures};
}

// The driver's answer seen by the application where the Win32 types ride on its opaque fd payload.
SyncHandleSupport FromDriver(SyncHandleSupport s) {
  if (s.compatible & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) s.compatible |= kSyncOpaqueWin32Types;
  if (s.export_from_imported & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) {
    s.export_from_imported |= kSyncOpaqueWin32Types;
  }
  return s;
}

// The shared payload: exportable and importable as either Win32 type, compatible with nothing of the driver.
constexpr SyncHandleSupport kShared{kSyncOpaqueWin32Types, kSyncOpaqueWin32Types, kExportImport};

// `d3d_types`: the kind's Direct3D types (semaphores: D3D12_FENCE; fences: none — bit 0x8 is SYNC_FD there).
SyncHandleSupport Answer(bool driver_payload, bool shared_possible, uint32_t handle_type, uint32_t d3d_types,
                         SyncHandleSupport (*driver)(uint32_t, const void*), const void* ctx) {
  if (handle_type & d3d_types) return {};  // no Direct3D 12 fence on Linux
  if (handle_type & kSyncOpaqueWin32Types) {
    if (driver_payload) return FromDriver(driver(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT, ctx));
    return shared_possible ? kShared : SyncHandleSupport{};
  }
  SyncHandleSupport s = driver(handle_type, ctx);
  return driver_payload ? FromDriver(s) : s;
}

}  // namespace

bool DriverSemaphoreOpaqueFd(const InstanceData& instance, VkPhysicalDevice gpu, VkSemaphoreType type) {
  SyncHandleSupport s = DriverSemaphore(instance, gpu, type, VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT);
  return (s.features & kExportImport) == kExportImport;
}

bool DriverFenceOpaqueFd(const InstanceData& instance, VkPhysicalDevice gpu) {
  SyncHandleSupport s = DriverFence(instance, gpu, VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT);
  return (s.features & kExportImport) == kExportImport;
}

SyncHandleSupport SemaphoreSupport(InstanceData& instance, VkPhysicalDevice gpu, VkSemaphoreType type,
                                   uint32_t handle_type) {
  const PhysicalDeviceInfo info = instance.Info(gpu);
  struct Ctx {
    InstanceData* inst;
    VkPhysicalDevice gpu;
    VkSemaphoreType type;
  } ctx{&instance, gpu, type};
  auto driver = [](uint32_t bit, const void* c) {
    auto* x = static_cast<const Ctx*>(c);
    return DriverSemaphore(*x->inst, x->gpu, x->type, bit);
  };
  if (!info.emulate_semaphore) return driver(handle_type, &ctx);
  const bool driver_payload = type == VK_SEMAPHORE_TYPE_TIMELINE ? info.timeline_semaphore_driver_payload
                                                                 : info.semaphore_driver_payload;
  return Answer(driver_payload, info.has_timeline_semaphore, handle_type, kSemaphoreD3DTypes, driver, &ctx);
}

SyncHandleSupport FenceSupport(InstanceData& instance, VkPhysicalDevice gpu, uint32_t handle_type) {
  const PhysicalDeviceInfo info = instance.Info(gpu);
  struct Ctx {
    InstanceData* inst;
    VkPhysicalDevice gpu;
  } ctx{&instance, gpu};
  auto driver = [](uint32_t bit, const void* c) {
    auto* x = static_cast<const Ctx*>(c);
    return DriverFence(*x->inst, x->gpu, bit);
  };
  if (!info.emulate_fence) return driver(handle_type, &ctx);
  return Answer(info.fence_driver_payload, info.has_timeline_semaphore, handle_type, 0, driver, &ctx);
}

VKAPI_ATTR void VKAPI_CALL GetPhysicalDeviceExternalSemaphoreProperties(
    VkPhysicalDevice gpu, const VkPhysicalDeviceExternalSemaphoreInfo* info,
    VkExternalSemaphoreProperties* props) {
  InstanceData* inst = InstanceOf(gpu);
  if (inst == nullptr || inst->next.GetPhysicalDeviceExternalSemaphoreProperties == nullptr) return;
  if (info == nullptr || props == nullptr || !inst->Info(gpu).emulate_semaphore) {
    inst->next.GetPhysicalDeviceExternalSemaphoreProperties(gpu, info, props);
    return;
  }
  auto* t = FindInChain<VkSemaphoreTypeCreateInfo>(info->pNext, VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO);
  const VkSemaphoreType type = t != nullptr ? t->semaphoreType : VK_SEMAPHORE_TYPE_BINARY;
  SyncHandleSupport s = SemaphoreSupport(*inst, gpu, type, info->handleType);
  props->exportFromImportedHandleTypes = s.export_from_imported;
  props->compatibleHandleTypes = s.compatible;
  props->externalSemaphoreFeatures = s.features;
}

VKAPI_ATTR void VKAPI_CALL GetPhysicalDeviceExternalFenceProperties(
    VkPhysicalDevice gpu, const VkPhysicalDeviceExternalFenceInfo* info, VkExternalFenceProperties* props) {
  InstanceData* inst = InstanceOf(gpu);
  if (inst == nullptr || inst->next.GetPhysicalDeviceExternalFenceProperties == nullptr) return;
  if (info == nullptr || props == nullptr || !inst->Info(gpu).emulate_fence) {
    inst->next.GetPhysicalDeviceExternalFenceProperties(gpu, info, props);
    return;
  }
  SyncHandleSupport s = FenceSupport(*inst, gpu, info->handleType);
  props->exportFromImportedHandleTypes = s.export_from_imported;
  props->compatibleHandleTypes = s.compatible;
  props->externalFenceFeatures = s.features;
}

}  // namespace ntbridge
