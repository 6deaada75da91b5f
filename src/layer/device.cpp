// Device creation: VK_KHR_external_memory_win32 is emulated over VK_KHR_external_memory_fd.
#include <cstring>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "hooks.hpp"
#include "shares.hpp"

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
PFN Load(PFN_vkGetDeviceProcAddr gdpa, VkDevice device, const char* name) {
  return reinterpret_cast<PFN>(gdpa(device, name));
}

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
  bool wants_win32 = false;
  for (uint32_t i = 0; i < create_info->enabledExtensionCount; ++i) {
    const char* name = create_info->ppEnabledExtensionNames[i];
    if (std::strcmp(name, VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME) == 0 && !gpu_info.has_native_win32) {
      wants_win32 = true;
      continue;  // the driver does not know it: take it out
    }
    if (std::strcmp(name, VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME) == 0) wants_win32 = true;
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
  if (emulate) {
    if (gpu_info.has_native_win32) {
      // Forced emulation over a native implementation: the driver must not see the name either.
      std::erase_if(names, [](const char* n) {
        return std::strcmp(n, VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME) == 0;
      });
    }
    if (!Contains(names, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME)) {
      names.push_back(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
    }
    bool core_external_memory =
        inst->api_version >= VK_API_VERSION_1_1 && gpu_info.api_version >= VK_API_VERSION_1_1;
    if (!core_external_memory && !Contains(names, VK_KHR_EXTERNAL_MEMORY_EXTENSION_NAME)) {
      names.push_back(VK_KHR_EXTERNAL_MEMORY_EXTENSION_NAME);
    }
  }

  VkDeviceCreateInfo down = *create_info;
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
  DeviceDispatch& n = data->next;
  n.GetDeviceProcAddr = gdpa;
  n.DestroyDevice = Load<PFN_vkDestroyDevice>(gdpa, *device, "vkDestroyDevice");
  n.AllocateMemory = Load<PFN_vkAllocateMemory>(gdpa, *device, "vkAllocateMemory");
  n.FreeMemory = Load<PFN_vkFreeMemory>(gdpa, *device, "vkFreeMemory");
  n.CreateBuffer = Load<PFN_vkCreateBuffer>(gdpa, *device, "vkCreateBuffer");
  n.CreateImage = Load<PFN_vkCreateImage>(gdpa, *device, "vkCreateImage");
  if (emulate) {
    n.GetMemoryFdKHR = Load<PFN_vkGetMemoryFdKHR>(gdpa, *device, "vkGetMemoryFdKHR");
    n.GetMemoryFdPropertiesKHR =
        Load<PFN_vkGetMemoryFdPropertiesKHR>(gdpa, *device, "vkGetMemoryFdPropertiesKHR");
  }
  AddDeviceData(DispatchKey(*device), std::move(data));
  return VK_SUCCESS;
}

VKAPI_ATTR void VKAPI_CALL DestroyDevice(VkDevice device, const VkAllocationCallbacks* allocator) {
  if (device == VK_NULL_HANDLE) return;
  auto data = RemoveDeviceData(DispatchKey(device));
  if (!data) return;
  // Memory the application did not free goes with the device; so do the shares it held.
  ReleaseDeviceShares(*data);
  data->next.DestroyDevice(device, allocator);
}

}  // namespace ntbridge
