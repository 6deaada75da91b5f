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

struct Entry {
  std::string_view name;
  PFN_vkVoidFunction function;
  Level level;
};

#define NTBRIDGE_HOOK(name, function, level) \
  Entry { name, reinterpret_cast<PFN_vkVoidFunction>(&function), Level::level }

// Sorted by name for the binary search below.
const auto kEntries = [] {
  std::array entries = {
      NTBRIDGE_HOOK("vkAllocateMemory", AllocateMemory, kDevice),
      NTBRIDGE_HOOK("vkCreateBuffer", CreateBuffer, kDevice),
      NTBRIDGE_HOOK("vkCreateDebugUtilsMessengerEXT", CreateDebugUtilsMessengerEXT, kInstance),
      NTBRIDGE_HOOK("vkCreateDevice", CreateDevice, kInstance),
      NTBRIDGE_HOOK("vkCreateImage", CreateImage, kDevice),
      NTBRIDGE_HOOK("vkCreateInstance", CreateInstance, kGlobal),
      NTBRIDGE_HOOK("vkDestroyDebugUtilsMessengerEXT", DestroyDebugUtilsMessengerEXT, kInstance),
      NTBRIDGE_HOOK("vkDestroyDevice", DestroyDevice, kDevice),
      NTBRIDGE_HOOK("vkDestroyInstance", DestroyInstance, kInstance),
      NTBRIDGE_HOOK("vkEnumerateDeviceExtensionProperties", EnumerateDeviceExtensionProperties, kInstance),
      NTBRIDGE_HOOK("vkFreeMemory", FreeMemory, kDevice),
      NTBRIDGE_HOOK("vkGetDeviceProcAddr", GetDeviceProcAddr, kDevice),
      NTBRIDGE_HOOK("vkGetInstanceProcAddr", GetInstanceProcAddr, kGlobal),
      NTBRIDGE_HOOK("vkGetMemoryWin32HandleKHR", GetMemoryWin32HandleKHR, kDevice),
      NTBRIDGE_HOOK("vkGetMemoryWin32HandlePropertiesKHR", GetMemoryWin32HandlePropertiesKHR, kDevice),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceExternalBufferProperties", GetPhysicalDeviceExternalBufferProperties,
                    kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceExternalBufferPropertiesKHR",
                    GetPhysicalDeviceExternalBufferProperties, kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceImageFormatProperties2", GetPhysicalDeviceImageFormatProperties2,
                    kInstance),
      NTBRIDGE_HOOK("vkGetPhysicalDeviceImageFormatProperties2KHR", GetPhysicalDeviceImageFormatProperties2,
                    kInstance),
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

bool IsWin32Command(const char* name) {
  return std::strcmp(name, "vkGetMemoryWin32HandleKHR") == 0 ||
         std::strcmp(name, "vkGetMemoryWin32HandlePropertiesKHR") == 0;
}

}  // namespace

VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetDeviceProcAddr(VkDevice device, const char* name) {
  if (device == VK_NULL_HANDLE || name == nullptr) return nullptr;
  DeviceData* d = DeviceOf(device);
  if (d == nullptr) return nullptr;
  const Entry* e = Find(name);
  if (e != nullptr && e->level == Level::kDevice) {
    // A device without the emulated extension gets the driver's own commands: no overhead at all.
    if (d->win32_enabled || std::strcmp(name, "vkGetDeviceProcAddr") == 0 ||
        std::strcmp(name, "vkDestroyDevice") == 0) {
      return e->function;
    }
    if (IsWin32Command(name)) return nullptr;
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
