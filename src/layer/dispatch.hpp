// What the layer keeps per instance, physical device and device, and the next layer's functions.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "debug_report.hpp"
#include "memory_record.hpp"
#include "vk_win32.hpp"

namespace ntbridge {

// The functions of the next layer (or driver) this layer calls. Only what it uses.
struct InstanceDispatch {
  PFN_vkGetInstanceProcAddr GetInstanceProcAddr = nullptr;
  PFN_vkDestroyInstance DestroyInstance = nullptr;
  PFN_vkEnumerateDeviceExtensionProperties EnumerateDeviceExtensionProperties = nullptr;
  PFN_vkGetPhysicalDeviceProperties GetPhysicalDeviceProperties = nullptr;
  PFN_vkGetPhysicalDeviceProperties2 GetPhysicalDeviceProperties2 = nullptr;
  PFN_vkGetPhysicalDeviceExternalBufferProperties GetPhysicalDeviceExternalBufferProperties = nullptr;
  PFN_vkGetPhysicalDeviceImageFormatProperties2 GetPhysicalDeviceImageFormatProperties2 = nullptr;
  PFN_vkCreateDebugUtilsMessengerEXT CreateDebugUtilsMessengerEXT = nullptr;
  PFN_vkDestroyDebugUtilsMessengerEXT DestroyDebugUtilsMessengerEXT = nullptr;
};

struct DeviceDispatch {
  PFN_vkGetDeviceProcAddr GetDeviceProcAddr = nullptr;
  PFN_vkDestroyDevice DestroyDevice = nullptr;
  PFN_vkAllocateMemory AllocateMemory = nullptr;
  PFN_vkFreeMemory FreeMemory = nullptr;
  PFN_vkGetMemoryFdKHR GetMemoryFdKHR = nullptr;
  PFN_vkGetMemoryFdPropertiesKHR GetMemoryFdPropertiesKHR = nullptr;
  PFN_vkCreateBuffer CreateBuffer = nullptr;
  PFN_vkCreateImage CreateImage = nullptr;
};

struct PhysicalDeviceInfo {
  bool has_external_memory_fd = false;
  bool has_native_win32 = false;  // the driver has VK_KHR_external_memory_win32 itself
  uint32_t api_version = 0;
  uint8_t device_uuid[VK_UUID_SIZE] = {};
  uint8_t driver_uuid[VK_UUID_SIZE] = {};
  // The layer emulates the extension on this device (fd present, and no native support or forced).
  bool emulate = false;
};

struct InstanceData {
  VkInstance instance = VK_NULL_HANDLE;
  uint32_t api_version = VK_API_VERSION_1_0;
  InstanceDispatch next;
  DebugReporter reporter;
  bool force_enable = false;  // setting force_enable, read at vkCreateInstance

  std::mutex mutex;  // guards physical_devices
  std::unordered_map<VkPhysicalDevice, PhysicalDeviceInfo> physical_devices;

  // Learns (once) what the driver offers on `gpu`.
  PhysicalDeviceInfo Info(VkPhysicalDevice gpu);
};

struct DeviceData {
  VkDevice device = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  InstanceData* instance = nullptr;
  PhysicalDeviceInfo gpu;
  DeviceDispatch next;
  bool win32_enabled = false;  // the application enabled VK_KHR_external_memory_win32 (emulated)

  MemoryTable memories;
  // Memory types whose payload kind (memfd, dma-buf, device node) was learned from an export: one look in
  // /proc per memory type is enough (nt_handle.hpp, LearnPayloadKind).
  std::atomic<uint32_t> payload_kinds_learned{0};
  // Of those, the memory types whose exported descriptors came close-on-exec from the driver.
  std::atomic<uint32_t> driver_fds_cloexec{0};
  // Of those, the memory types whose payload descriptors are all one device node (UniquePayloadId is 0).
  std::atomic<uint32_t> payload_ids_shared{0};
};

// Dispatchable handles of one instance (or device) share the loader's dispatch table pointer.
template <typename T>
void* DispatchKey(T handle) {
  return *reinterpret_cast<void**>(handle);
}

InstanceData* GetInstanceData(void* key);
DeviceData* GetDeviceData(void* key);
void AddInstanceData(void* key, std::unique_ptr<InstanceData> data);
std::unique_ptr<InstanceData> RemoveInstanceData(void* key);
void AddDeviceData(void* key, std::unique_ptr<DeviceData> data);
std::unique_ptr<DeviceData> RemoveDeviceData(void* key);

template <typename T>
InstanceData* InstanceOf(T handle) {
  return GetInstanceData(DispatchKey(handle));
}
template <typename T>
DeviceData* DeviceOf(T handle) {
  return GetDeviceData(DispatchKey(handle));
}

}  // namespace ntbridge
