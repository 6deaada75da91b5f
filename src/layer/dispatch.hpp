// What the layer keeps per instance, physical device and device, and the next layer's functions.
#pragma once

#include <array>
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
#include "sync_record.hpp"
#include "vk_win32.hpp"

namespace ntbridge {

namespace shared_payload {
class QueueBridge;
}

// The functions of the next layer (or driver) this layer calls. Only what it uses.
struct InstanceDispatch {
  PFN_vkGetInstanceProcAddr GetInstanceProcAddr = nullptr;
  PFN_vkDestroyInstance DestroyInstance = nullptr;
  PFN_vkEnumerateDeviceExtensionProperties EnumerateDeviceExtensionProperties = nullptr;
  PFN_vkGetPhysicalDeviceProperties GetPhysicalDeviceProperties = nullptr;
  PFN_vkGetPhysicalDeviceProperties2 GetPhysicalDeviceProperties2 = nullptr;
  PFN_vkGetPhysicalDeviceExternalBufferProperties GetPhysicalDeviceExternalBufferProperties = nullptr;
  PFN_vkGetPhysicalDeviceImageFormatProperties2 GetPhysicalDeviceImageFormatProperties2 = nullptr;
  PFN_vkGetPhysicalDeviceExternalSemaphoreProperties GetPhysicalDeviceExternalSemaphoreProperties = nullptr;
  PFN_vkGetPhysicalDeviceExternalFenceProperties GetPhysicalDeviceExternalFenceProperties = nullptr;
  PFN_vkGetPhysicalDeviceFeatures2 GetPhysicalDeviceFeatures2 = nullptr;
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
  // Semaphores and fences (sync.cpp, semaphore.cpp, fence.cpp, submit.cpp).
  PFN_vkCreateSemaphore CreateSemaphore = nullptr;
  PFN_vkDestroySemaphore DestroySemaphore = nullptr;
  PFN_vkCreateFence CreateFence = nullptr;
  PFN_vkDestroyFence DestroyFence = nullptr;
  PFN_vkGetSemaphoreFdKHR GetSemaphoreFdKHR = nullptr;
  PFN_vkImportSemaphoreFdKHR ImportSemaphoreFdKHR = nullptr;
  PFN_vkGetFenceFdKHR GetFenceFdKHR = nullptr;
  PFN_vkImportFenceFdKHR ImportFenceFdKHR = nullptr;
  PFN_vkSignalSemaphore SignalSemaphore = nullptr;
  PFN_vkWaitSemaphores WaitSemaphores = nullptr;
  PFN_vkGetSemaphoreCounterValue GetSemaphoreCounterValue = nullptr;
  PFN_vkWaitForFences WaitForFences = nullptr;
  PFN_vkGetFenceStatus GetFenceStatus = nullptr;
  PFN_vkResetFences ResetFences = nullptr;
  PFN_vkQueueSubmit QueueSubmit = nullptr;
  PFN_vkQueueSubmit2 QueueSubmit2 = nullptr;
  PFN_vkQueueBindSparse QueueBindSparse = nullptr;
  PFN_vkQueueWaitIdle QueueWaitIdle = nullptr;
  PFN_vkDeviceWaitIdle DeviceWaitIdle = nullptr;
  PFN_vkAcquireNextImageKHR AcquireNextImageKHR = nullptr;
  PFN_vkAcquireNextImage2KHR AcquireNextImage2KHR = nullptr;
  PFN_vkQueuePresentKHR QueuePresentKHR = nullptr;
};

struct PhysicalDeviceInfo {
  bool has_external_memory_fd = false;
  bool has_native_win32 = false;  // the driver has VK_KHR_external_memory_win32 itself
  uint32_t api_version = 0;
  uint8_t device_uuid[VK_UUID_SIZE] = {};
  uint8_t driver_uuid[VK_UUID_SIZE] = {};
  // VkPhysicalDeviceDriverProperties::driverID where the device tells it (Vulkan 1.2 or
  // VK_KHR_driver_properties), else 0: for the drivers' departures from the spec the layer must allow for.
  VkDriverId driver_id = static_cast<VkDriverId>(0);
  bool has_driver_properties = false;  // VK_KHR_driver_properties
  // The layer emulates the extension on this device (fd present, and no native support or forced).
  bool emulate = false;

  // Semaphores and fences (DESIGN.md §7).
  bool has_external_semaphore_fd = false;
  bool has_external_fence_fd = false;
  bool has_native_semaphore_win32 = false;
  bool has_native_fence_win32 = false;
  bool has_timeline_extension = false;  // VK_KHR_timeline_semaphore (for a Vulkan 1.1 device)
  bool has_timeline_semaphore = false;  // the feature, which the shared payload's queue operations need
  // The layer emulates VK_KHR_external_semaphore_win32 / VK_KHR_external_fence_win32 here.
  bool emulate_semaphore = false;
  bool emulate_fence = false;
  // The payload new exportable objects get: the driver's opaque fd object, or the layer's shared payload.
  bool semaphore_driver_payload = false;           // binary semaphores
  bool timeline_semaphore_driver_payload = false;  // timeline semaphores
  bool fence_driver_payload = false;
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
  // For those, the device number of that node (st_rdev): the bucket of their exported descriptions.
  std::array<std::atomic<uint64_t>, VK_MAX_MEMORY_TYPES> payload_nodes{};

  // The application enabled VK_KHR_external_semaphore_win32 / VK_KHR_external_fence_win32 (emulated).
  bool semaphore_win32_enabled = false;
  bool fence_win32_enabled = false;
  // The layer wraps vkSignalSemaphore, vkWaitSemaphores and vkGetSemaphoreCounterValue (and their KHR
  // aliases) only where a timeline semaphore can hold a shared payload: with the semaphore extension enabled,
  // on a device whose timeline semaphores do not use the driver's payload. Elsewhere the loader calls the
  // driver directly (entry_points.cpp). Safe because these commands act only on timeline semaphores
  // (VUID-VkSemaphoreSignalInfo-semaphore-03257, VUID-VkSemaphoreWaitInfo-pSemaphores-03256,
  // VUID-vkGetSemaphoreCounterValue-semaphore-03255), a timeline payload is never imported temporarily
  // (VUID-VkImportSemaphoreWin32HandleInfoKHR-flags-03322), and the one way left for a shared payload into
  // such a device's timeline semaphore, a permanent import of one made by a device of another driver, is
  // refused (ImportSyncHandle; OPAQUE_WIN32 payloads are shared only between the same driverUUID and
  // deviceUUID anyway). Set at vkCreateDevice.
  bool timeline_host_hooked = false;
  SyncTable<VkSemaphore> semaphores;
  SyncTable<VkFence> fences;
  // How many payload references queue submissions must look at: shared payloads (permanent or temporary) and
  // temporary imports of the driver's payloads (restored by the next wait). While it is 0, submissions go to
  // the driver untouched.
  std::atomic<int> submit_tracked{0};
  // The threads and private semaphores that connect queue operations with shared payloads, made on first
  // need (shared_payload/queue_bridge.hpp).
  std::mutex bridge_mutex;
  std::unique_ptr<shared_payload::QueueBridge> bridge;
  shared_payload::QueueBridge* Bridge();  // made on first call; nullptr if that failed (reported)

  DeviceData();
  ~DeviceData();  // out of line: QueueBridge is complete there
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
