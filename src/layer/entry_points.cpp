// The loader's view of the layer: interface negotiation and the one table of intercepted commands.
#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "dispatch.hpp"
#include "hooks.hpp"

namespace ntbridge {

VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetDeviceProcAddr(VkDevice device, const char* name);
VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetInstanceProcAddr(VkInstance instance, const char* name);

namespace {

enum class Level { kGlobal, kInstance, kDevice };

// Which emulated extension a device command belongs to: a device without it gets the driver's command.
// kTimelineHost: the host commands of timeline semaphores, which only a shared payload needs
// (DeviceData::timeline_host_hooked).
enum class Gate { kNone, kMemory, kSemaphore, kFence, kSync, kTimelineHost };

struct Entry {
  std::string_view name;
  PFN_vkVoidFunction function;
  Level level;
  Gate gate = Gate::kNone;
  bool win32 = false;  // a command of a Win32 extension: no driver command to fall back to
};

#define NTBRIDGE_HOOK(name, function, level) \
  Entry { name, reinterpret_cast<PFN_vkVoidFunction>(&function), Level::level }
#define NTBRIDGE_DEVICE_HOOK(name, function, gate, win32) \
  Entry { name, reinterpret_cast<PFN_vkVoidFunction>(&function), Level::kDevice, Gate::gate, win32 }

// Sorted by name for the binary search below.
const auto kEntries = [] {
  std::array entries = {
      NTBRIDGE_DEVICE_HOOK("vkAcquireNextImage2KHR", AcquireNextImage2KHR, kSync, false),
      NTBRIDGE_DEVICE_HOOK("vkAcquireNextImageKHR", AcquireNextImageKHR, kSync, false),
      NTBRIDGE_DEVICE_HOOK("vkAllocateMemory", AllocateMemory, kMemory, false),
      NTBRIDGE_DEVICE_HOOK("vkCreateBuffer", CreateBuffer, kMemory, false),
      NTBRIDGE_HOOK("vkCreateDebugUtilsMessengerEXT", CreateDebugUtilsMessengerEXT, kInstance),
      NTBRIDGE_HOOK("vkCreateDevice", CreateDevice, kInstance),
      NTBRIDGE_DEVICE_HOOK("vkCreateFence", CreateFence, kFence, false),
      NTBRIDGE_DEVICE_HOOK("vkCreateImage", CreateImage, kMemory, false),
      NTBRIDGE_HOOK("vkCreateInstance", CreateInstance, kGlobal),
      NTBRIDGE_DEVICE_HOOK("vkCreateSemaphore", CreateSemaphore, kSemaphore, false),
      NTBRIDGE_HOOK("vkDestroyDebugUtilsMessengerEXT", DestroyDebugUtilsMessengerEXT, kInstance),
      NTBRIDGE_DEVICE_HOOK("vkDeviceWaitIdle", DeviceWaitIdle, kSync, false),
      NTBRIDGE_DEVICE_HOOK("vkDestroyDevice", DestroyDevice, kNone, false),
      NTBRIDGE_DEVICE_HOOK("vkDestroyFence", DestroyFence, kFence, false),
      NTBRIDGE_HOOK("vkDestroyInstance", DestroyInstance, kInstance),
      NTBRIDGE_DEVICE_HOOK("vkDestroySemaphore", DestroySemaphore, kSemaphore, false),
      NTBRIDGE_HOOK("vkEnumerateDeviceExtensionProperties", EnumerateDeviceExtensionProperties, kInstance),
      NTBRIDGE_DEVICE_HOOK("vkFreeMemory", FreeMemory, kMemory, false),
      NTBRIDGE_DEVICE_HOOK("vkGetDeviceProcAddr", GetDeviceProcAddr, kNone, false),
      NTBRIDGE_DEVICE_HOOK("vkGetFenceStatus", GetFenceStatus, kFence, false),
      NTBRIDGE_DEVICE_HOOK("vkGetFenceWin32HandleKHR", GetFenceWin32HandleKHR, kFence, true),
      NTBRIDGE_HOOK("vkGetInstanceProcAddr", GetInstanceProcAddr, kGlobal),
      NTBRIDGE_DEVICE_HOOK("vkGetMemoryWin32HandleKHR", GetMemoryWin32HandleKHR, kMemory, true),
      NTBRIDGE_DEVICE_HOOK("vkGetMemoryWin32HandlePropertiesKHR", GetMemoryWin32HandlePropertiesKHR, kMemory,
                           true),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceExternalBufferProperties", GetPhysicalDeviceExternalBufferProperties,
                    kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceExternalBufferPropertiesKHR",
                    GetPhysicalDeviceExternalBufferProperties, kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceExternalFenceProperties", GetPhysicalDeviceExternalFenceProperties,
                    kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceExternalFencePropertiesKHR", GetPhysicalDeviceExternalFenceProperties,
                    kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceExternalSemaphoreProperties",
                    GetPhysicalDeviceExternalSemaphoreProperties, kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceExternalSemaphorePropertiesKHR",
                    GetPhysicalDeviceExternalSemaphoreProperties, kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceImageFormatProperties2", GetPhysicalDeviceImageFormatProperties2,
                    kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceImageFormatProperties2KHR", GetPhysicalDeviceImageFormatProperties2,
                    kInstance),
      NTBRIDGE_DEVICE_HOOK("vkGetSemaphoreCounterValue", GetSemaphoreCounterValue, kTimelineHost, false),
      NTBRIDGE_DEVICE_HOOK("vkGetSemaphoreCounterValueKHR", GetSemaphoreCounterValue, kTimelineHost, false),
      NTBRIDGE_DEVICE_HOOK("vkGetSemaphoreWin32HandleKHR", GetSemaphoreWin32HandleKHR, kSemaphore, true),
      NTBRIDGE_DEVICE_HOOK("vkImportFenceWin32HandleKHR", ImportFenceWin32HandleKHR, kFence, true),
      NTBRIDGE_DEVICE_HOOK("vkImportSemaphoreWin32HandleKHR", ImportSemaphoreWin32HandleKHR, kSemaphore,
                           true),
      NTBRIDGE_DEVICE_HOOK("vkQueueBindSparse", QueueBindSparse, kSync, false),
      NTBRIDGE_DEVICE_HOOK("vkQueuePresentKHR", QueuePresentKHR, kSync, false),
      NTBRIDGE_DEVICE_HOOK("vkQueueSubmit", QueueSubmit, kSync, false),
      NTBRIDGE_DEVICE_HOOK("vkQueueSubmit2", QueueSubmit2, kSync, false),
      NTBRIDGE_DEVICE_HOOK("vkQueueSubmit2KHR", QueueSubmit2, kSync, false),
      NTBRIDGE_DEVICE_HOOK("vkQueueWaitIdle", QueueWaitIdle, kSync, false),
      NTBRIDGE_DEVICE_HOOK("vkResetFences", ResetFences, kFence, false),
      NTBRIDGE_DEVICE_HOOK("vkSignalSemaphore", SignalSemaphore, kTimelineHost, false),
      NTBRIDGE_DEVICE_HOOK("vkSignalSemaphoreKHR", SignalSemaphore, kTimelineHost, false),
      NTBRIDGE_DEVICE_HOOK("vkWaitForFences", WaitForFences, kFence, false),
      NTBRIDGE_DEVICE_HOOK("vkWaitSemaphores", WaitSemaphores, kTimelineHost, false),
      NTBRIDGE_DEVICE_HOOK("vkWaitSemaphoresKHR", WaitSemaphores, kTimelineHost, false),
  };
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return entries;
}();

const Entry* Find(const char* name) {
  std::string_view key(name);
  auto it = std::lower_bound(kEntries.begin(), kEntries.end(), key,
                             [](const Entry& e, std::string_view k) { return e.name < k; });
  return (it != kEntries.end() && it->name == key) ? &*it : nullptr;
}

bool Enabled(const DeviceData& d, Gate gate) {
  switch (gate) {
    case Gate::kNone:
      return true;
    case Gate::kMemory:
      return d.win32_enabled;
    case Gate::kSemaphore:
      return d.semaphore_win32_enabled;
    case Gate::kFence:
      return d.fence_win32_enabled;
    case Gate::kSync:
      return d.semaphore_win32_enabled || d.fence_win32_enabled;
    case Gate::kTimelineHost:
      return d.timeline_host_hooked;
  }
  return false;
}

}  // namespace

VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetDeviceProcAddr(VkDevice device, const char* name) {
  if (device == VK_NULL_HANDLE || name == nullptr) return nullptr;
  DeviceData* d = DeviceOf(device);
  if (d == nullptr) return nullptr;
  const Entry* e = Find(name);
  if (e != nullptr && e->level == Level::kDevice) {
    // A device without the emulated extension, or a command the layer never needs there, gets the driver's
    // own command: no overhead at all.
    if (!Enabled(*d, e->gate)) return e->win32 ? nullptr : d->next.GetDeviceProcAddr(device, name);
    // A command the layer wraps is offered only where the driver has it (vkQueueSubmit2 on Vulkan 1.3...).
    if (e->win32 || d->next.GetDeviceProcAddr(device, name) != nullptr) return e->function;
    return nullptr;
  }
  return d->next.GetDeviceProcAddr(device, name);
}

VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetInstanceProcAddr(VkInstance instance, const char* name) {
  if (name == nullptr) return nullptr;
  const Entry* e = Find(name);
  if (e != nullptr && (e->level == Level::kGlobal || instance != VK_NULL_HANDLE)) return e->function;
  if (instance == VK_NULL_HANDLE) return nullptr;
  InstanceData* inst = InstanceOf(instance);
  if (inst == nullptr) return nullptr;
  return inst->next.GetInstanceProcAddr(instance, name);
}

}  // namespace ntbridge

extern "C" {

VK_LAYER_EXPORT VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL vkGetInstanceProcAddr(VkInstance instance,
                                                                               const char* name) {
  return ntbridge::GetInstanceProcAddr(instance, name);
}

VK_LAYER_EXPORT VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL vkGetDeviceProcAddr(VkDevice device,
                                                                             const char* name) {
  return ntbridge::GetDeviceProcAddr(device, name);
}

VK_LAYER_EXPORT VKAPI_ATTR VkResult VKAPI_CALL
vkNegotiateLoaderLayerInterfaceVersion(VkNegotiateLayerInterface* interface) {
  if (interface == nullptr || interface->sType != LAYER_NEGOTIATE_INTERFACE_STRUCT) {
    return VK_ERROR_INITIALIZATION_FAILED;
  }
  if (interface->loaderLayerInterfaceVersion > 2) interface->loaderLayerInterfaceVersion = 2;
  // The internal functions, not the exported symbols: those would resolve to the loader's own
  // vkGetInstanceProcAddr when the application links libvulkan (symbol interposition).
  interface->pfnGetInstanceProcAddr = &ntbridge::GetInstanceProcAddr;
  interface->pfnGetDeviceProcAddr = &ntbridge::GetDeviceProcAddr;
  interface->pfnGetPhysicalDeviceProcAddr = nullptr;
  return VK_SUCCESS;
}

}  // extern "C"
