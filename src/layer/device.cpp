// Device creation: VK_KHR_external_memory_win32 is emulated over VK_KHR_external_memory_fd.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "hooks.hpp"
#include "pnext.hpp"
#include "shared_payload/queue_bridge.hpp"
#include "shares.hpp"
#include "validation/exported_payloads.hpp"

namespace ntbridge {
namespace {

VkLayerDeviceCreateInfo* FindLinkInfo(const void* chain) {
  auto* s = static_cast<const VkBaseInStructure*>(chain);
  for (; s != nullptr; s = s->pNext) {
    auto* info = reinterpret_cast<const VkLayerDeviceCreateInfo*>(s);
    if (s->sType == VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO && info->function == VK_LAYER_LINK_INFO) {
      return const_cast<VkLayerDeviceCreateInfo*>(info);
    }
  }
  return nullptr;
}

bool Contains(const std::vector<const char*>& names, const char* name) {
  for (const char* n : names) {
    if (std::strcmp(n, name) == 0) return true;
  }
  return false;
}

template <typename PFN>
PFN Load(PFN_vkGetDeviceProcAddr gdpa, VkDevice device, const char* name, const char* alias = nullptr) {
  auto f = reinterpret_cast<PFN>(gdpa(device, name));
  if (f == nullptr && alias != nullptr) f = reinterpret_cast<PFN>(gdpa(device, alias));
  return f;
}

// Turns on the timelineSemaphore feature for the driver, whichever way the application's chain asks for
// features, and puts the application's structure back as it was afterwards.
class TimelineFeature {
 public:
  explicit TimelineFeature(const void* chain) : head_(chain) {}
  ~TimelineFeature() {
    if (restore_ != nullptr) *restore_ = VK_FALSE;
  }
  void Enable() {
    auto* v12 = const_cast<VkPhysicalDeviceVulkan12Features*>(FindInChain<VkPhysicalDeviceVulkan12Features>(
        head_, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES));
    auto* tl = const_cast<VkPhysicalDeviceTimelineSemaphoreFeatures*>(
        FindInChain<VkPhysicalDeviceTimelineSemaphoreFeatures>(
            head_, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES));
    VkBool32* flag = v12 != nullptr  ? &v12->timelineSemaphore
                     : tl != nullptr ? &tl->timelineSemaphore
                                     : nullptr;
    if (flag != nullptr) {
      if (*flag == VK_FALSE) {
        *flag = VK_TRUE;
        restore_ = flag;
      }
      return;
    }
    own_.pNext = const_cast<void*>(head_);
    own_.timelineSemaphore = VK_TRUE;
    head_ = &own_;
  }
  const void* head() const { return head_; }

 private:
  const void* head_;
  VkBool32* restore_ = nullptr;
  VkPhysicalDeviceTimelineSemaphoreFeatures own_{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
};

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL CreateDevice(VkPhysicalDevice gpu, const VkDeviceCreateInfo* create_info,
                                            const VkAllocationCallbacks* allocator, VkDevice* device) {
  InstanceData* inst = InstanceOf(gpu);
  VkLayerDeviceCreateInfo* link = FindLinkInfo(create_info->pNext);
  if (inst == nullptr || link == nullptr || link->u.pLayerInfo == nullptr)
    return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr gipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  PFN_vkGetDeviceProcAddr gdpa = link->u.pLayerInfo->pfnNextGetDeviceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;

  PhysicalDeviceInfo gpu_info = inst->Info(gpu);
  std::vector<const char*> names;
  bool wants_win32 = false, wants_semaphore = false, wants_fence = false;
  for (uint32_t i = 0; i < create_info->enabledExtensionCount; ++i) {
    const char* name = create_info->ppEnabledExtensionNames[i];
    if (std::strcmp(name, VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME) == 0) {
      wants_win32 = true;
      if (!gpu_info.has_native_win32) continue;  // the driver does not know it: take it out
    }
    if (std::strcmp(name, VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME) == 0) {
      wants_semaphore = true;
      if (!gpu_info.has_native_semaphore_win32) continue;
    }
    if (std::strcmp(name, VK_KHR_EXTERNAL_FENCE_WIN32_EXTENSION_NAME) == 0) {
      wants_fence = true;
      if (!gpu_info.has_native_fence_win32) continue;
    }
    names.push_back(name);
  }
  bool emulate = wants_win32 && gpu_info.emulate;
  if (wants_win32 && !gpu_info.emulate && !gpu_info.has_native_win32) {
    inst->reporter.Warning(
        "ntbridge-no-external-memory-fd",
        "vkCreateDevice: VK_KHR_external_memory_win32 was enabled, but the driver of this "
        "physical device lacks VK_KHR_external_memory_fd, which ntbridge needs to emulate it");
    return VK_ERROR_EXTENSION_NOT_PRESENT;
  }
  const bool emulate_semaphore = wants_semaphore && gpu_info.emulate_semaphore;
  const bool emulate_fence = wants_fence && gpu_info.emulate_fence;
  if ((wants_semaphore && !emulate_semaphore && !gpu_info.has_native_semaphore_win32) ||
      (wants_fence && !emulate_fence && !gpu_info.has_native_fence_win32)) {
    inst->reporter.Warning(
        "ntbridge-no-external-sync",
        "vkCreateDevice: VK_KHR_external_semaphore_win32 or VK_KHR_external_fence_win32 was "
        "enabled, but the driver of this physical device has neither the opaque fd extension of "
        "that kind nor timeline semaphores, one of which ntbridge needs to emulate it");
    return VK_ERROR_EXTENSION_NOT_PRESENT;
  }
  const bool core_1_1 = inst->api_version >= VK_API_VERSION_1_1 && gpu_info.api_version >= VK_API_VERSION_1_1;
  auto add = [&](const char* name) {
    if (!Contains(names, name)) names.push_back(name);
  };
  // Forced emulation over a native implementation: the driver must not see the names either.
  auto drop = [&](const char* name) {
    std::erase_if(names, [&](const char* n) { return std::strcmp(n, name) == 0; });
  };
  if (emulate) {
    if (gpu_info.has_native_win32) drop(VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME);
    add(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
    if (!core_1_1) add(VK_KHR_EXTERNAL_MEMORY_EXTENSION_NAME);
  }
  if (emulate_semaphore) {
    if (gpu_info.has_native_semaphore_win32) drop(VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME);
    if (gpu_info.semaphore_driver_payload || gpu_info.timeline_semaphore_driver_payload) {
      add(VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
      if (!core_1_1) add(VK_KHR_EXTERNAL_SEMAPHORE_EXTENSION_NAME);
    }
  }
  if (emulate_fence) {
    if (gpu_info.has_native_fence_win32) drop(VK_KHR_EXTERNAL_FENCE_WIN32_EXTENSION_NAME);
    if (gpu_info.fence_driver_payload) {
      add(VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME);
      if (!core_1_1) add(VK_KHR_EXTERNAL_FENCE_EXTENSION_NAME);
    }
  }
  // Shared payloads (and imports of them on any device) need the layer's private timeline semaphores.
  TimelineFeature timeline_feature(create_info->pNext);
  if ((emulate_semaphore || emulate_fence) && gpu_info.has_timeline_semaphore) {
    // Timeline semaphores are core for a device used at Vulkan 1.2 (the lower of the application's and the
    // device's versions); below that, they come from the extension.
    if (std::min(inst->api_version, gpu_info.api_version) < VK_API_VERSION_1_2) {
      add(VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME);
    }
    timeline_feature.Enable();
  }

  VkDeviceCreateInfo down = *create_info;
  down.pNext = timeline_feature.head();
  down.enabledExtensionCount = static_cast<uint32_t>(names.size());
  down.ppEnabledExtensionNames = names.data();
  auto create = reinterpret_cast<PFN_vkCreateDevice>(gipa(inst->instance, "vkCreateDevice"));
  VkResult result = create(gpu, &down, allocator, device);
  if (result != VK_SUCCESS) return result;

  auto data = std::make_unique<DeviceData>();
  data->device = *device;
  data->physical_device = gpu;
  data->instance = inst;
  data->gpu = gpu_info;
  data->win32_enabled = emulate;
  data->semaphore_win32_enabled = emulate_semaphore;
  data->fence_win32_enabled = emulate_fence;
  // Where timeline semaphores use the driver's payload, none can hold a shared one (DeviceData says why):
  // the host commands on them go from the loader to the driver without passing through the layer.
  data->timeline_host_hooked = emulate_semaphore && !gpu_info.timeline_semaphore_driver_payload;
  DeviceDispatch& n = data->next;
  n.GetDeviceProcAddr = gdpa;
  n.DestroyDevice = Load<PFN_vkDestroyDevice>(gdpa, *device, "vkDestroyDevice");
  n.AllocateMemory = Load<PFN_vkAllocateMemory>(gdpa, *device, "vkAllocateMemory");
  n.FreeMemory = Load<PFN_vkFreeMemory>(gdpa, *device, "vkFreeMemory");
  n.CreateBuffer = Load<PFN_vkCreateBuffer>(gdpa, *device, "vkCreateBuffer");
  n.CreateImage = Load<PFN_vkCreateImage>(gdpa, *device, "vkCreateImage");
  n.CreateSemaphore = Load<PFN_vkCreateSemaphore>(gdpa, *device, "vkCreateSemaphore");
  n.DestroySemaphore = Load<PFN_vkDestroySemaphore>(gdpa, *device, "vkDestroySemaphore");
  n.CreateFence = Load<PFN_vkCreateFence>(gdpa, *device, "vkCreateFence");
  n.DestroyFence = Load<PFN_vkDestroyFence>(gdpa, *device, "vkDestroyFence");
  n.WaitForFences = Load<PFN_vkWaitForFences>(gdpa, *device, "vkWaitForFences");
  n.GetFenceStatus = Load<PFN_vkGetFenceStatus>(gdpa, *device, "vkGetFenceStatus");
  n.ResetFences = Load<PFN_vkResetFences>(gdpa, *device, "vkResetFences");
  n.QueueSubmit = Load<PFN_vkQueueSubmit>(gdpa, *device, "vkQueueSubmit");
  n.QueueBindSparse = Load<PFN_vkQueueBindSparse>(gdpa, *device, "vkQueueBindSparse");
  n.QueueWaitIdle = Load<PFN_vkQueueWaitIdle>(gdpa, *device, "vkQueueWaitIdle");
  n.DeviceWaitIdle = Load<PFN_vkDeviceWaitIdle>(gdpa, *device, "vkDeviceWaitIdle");
  n.QueueSubmit2 = Load<PFN_vkQueueSubmit2>(gdpa, *device, "vkQueueSubmit2", "vkQueueSubmit2KHR");
  n.SignalSemaphore = Load<PFN_vkSignalSemaphore>(gdpa, *device, "vkSignalSemaphore", "vkSignalSemaphoreKHR");
  n.WaitSemaphores = Load<PFN_vkWaitSemaphores>(gdpa, *device, "vkWaitSemaphores", "vkWaitSemaphoresKHR");
  n.GetSemaphoreCounterValue = Load<PFN_vkGetSemaphoreCounterValue>(
      gdpa, *device, "vkGetSemaphoreCounterValue", "vkGetSemaphoreCounterValueKHR");
  n.AcquireNextImageKHR = Load<PFN_vkAcquireNextImageKHR>(gdpa, *device, "vkAcquireNextImageKHR");
  n.QueuePresentKHR = Load<PFN_vkQueuePresentKHR>(gdpa, *device, "vkQueuePresentKHR");
  n.AcquireNextImage2KHR = Load<PFN_vkAcquireNextImage2KHR>(gdpa, *device, "vkAcquireNextImage2KHR");
  if (emulate_semaphore &&
      (gpu_info.semaphore_driver_payload || gpu_info.timeline_semaphore_driver_payload)) {
    n.GetSemaphoreFdKHR = Load<PFN_vkGetSemaphoreFdKHR>(gdpa, *device, "vkGetSemaphoreFdKHR");
    n.ImportSemaphoreFdKHR = Load<PFN_vkImportSemaphoreFdKHR>(gdpa, *device, "vkImportSemaphoreFdKHR");
  }
  if (emulate_fence && gpu_info.fence_driver_payload) {
    n.GetFenceFdKHR = Load<PFN_vkGetFenceFdKHR>(gdpa, *device, "vkGetFenceFdKHR");
    n.ImportFenceFdKHR = Load<PFN_vkImportFenceFdKHR>(gdpa, *device, "vkImportFenceFdKHR");
  }
  if (emulate) {
    n.GetMemoryFdKHR = Load<PFN_vkGetMemoryFdKHR>(gdpa, *device, "vkGetMemoryFdKHR");
    n.GetMemoryFdPropertiesKHR =
        Load<PFN_vkGetMemoryFdPropertiesKHR>(gdpa, *device, "vkGetMemoryFdPropertiesKHR");
  }
  AddDeviceData(DispatchKey(*device), std::move(data));
  return VK_SUCCESS;
}

DeviceData::DeviceData() = default;
DeviceData::~DeviceData() = default;

shared_payload::QueueBridge* DeviceData::Bridge() {
  std::lock_guard lock(bridge_mutex);
  if (!bridge) {
    std::string error;
    bridge = shared_payload::QueueBridge::Create(*this, &error);
    if (!bridge) {
      instance->reporter.Warning("ntbridge-shared-payload",
                                 "a queue operation on a shared semaphore or fence payload needs the layer's "
                                 "queue bridge, which cannot start: " +
                                     error);
    }
  }
  return bridge.get();
}

VKAPI_ATTR void VKAPI_CALL DestroyDevice(VkDevice device, const VkAllocationCallbacks* allocator) {
  if (device == VK_NULL_HANDLE) return;
  auto data = RemoveDeviceData(DispatchKey(device));
  if (!data) return;
  // The bridge's threads stop and its private semaphores go before the device does.
  {
    std::lock_guard lock(data->bridge_mutex);
    data->bridge.reset();
  }
  // Semaphores and fences the application did not destroy let go of their payloads and broker holds.
  data->semaphores.ForEach([&](VkSemaphore, SyncRecord& r) { r = {}; });
  data->fences.ForEach([&](VkFence, SyncRecord& r) { r = {}; });
  // Memory the application did not free goes with the device; so do the shares it held and what recorded its
  // exports (a kept duplicate would hold the payload past the device).
  data->memories.ForEach([](VkDeviceMemory, MemoryRecord& m) {
    if (m.exported_payload != 0) ForgetExportedPayload(m.exported_payload);
    if (m.exported_description >= 0) ForgetExportedDescription(m.exported_description);
    m.exported_payload = 0;
    m.exported_description = -1;
  });
  ReleaseDeviceShares(*data);
  data->next.DestroyDevice(device, allocator);
}

}  // namespace ntbridge
