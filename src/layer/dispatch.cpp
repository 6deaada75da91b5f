#include "dispatch.hpp"

#include "queries_sync.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace ntbridge {
namespace {

// One lock for the two maps; held only to find or change an entry, never while calling down the chain.
std::shared_mutex g_mutex;
std::unordered_map<void*, std::unique_ptr<InstanceData>> g_instances;
std::unordered_map<void*, std::unique_ptr<DeviceData>> g_devices;

// Every command looks its device up, and the shared lock alone costs about as much as a lavapipe allocation
// (docs/performance.md). Each thread remembers its last lookup; the remembered answer holds while no
// instance or device has been added or removed since (the generation, bumped under the exclusive lock). A
// call racing with the destruction of its own device is invalid usage, as it is for the lock.
std::atomic<uint64_t> g_generation{1};

template <typename T>
struct LastLookup {
  void* key = nullptr;
  T* data = nullptr;
  uint64_t generation = 0;
};
thread_local LastLookup<InstanceData> t_instance;
thread_local LastLookup<DeviceData> t_device;

template <typename T>
T* Lookup(const std::unordered_map<void*, std::unique_ptr<T>>& map, LastLookup<T>& last, void* key) {
  if (last.key == key && last.generation == g_generation.load(std::memory_order_acquire)) return last.data;
  std::shared_lock lock(g_mutex);
  auto it = map.find(key);
  T* data = it == map.end() ? nullptr : it->second.get();
  last = {key, data, g_generation.load(std::memory_order_relaxed)};  // stable while the lock is held
  return data;
}

void Changed() { g_generation.fetch_add(1, std::memory_order_release); }

}  // namespace

InstanceData* GetInstanceData(void* key) { return Lookup(g_instances, t_instance, key); }

DeviceData* GetDeviceData(void* key) { return Lookup(g_devices, t_device, key); }

void AddInstanceData(void* key, std::unique_ptr<InstanceData> data) {
  std::unique_lock lock(g_mutex);
  g_instances[key] = std::move(data);
  Changed();
}

std::unique_ptr<InstanceData> RemoveInstanceData(void* key) {
  std::unique_lock lock(g_mutex);
  auto node = g_instances.extract(key);
  Changed();
  return node.empty() ? nullptr : std::move(node.mapped());
}

void AddDeviceData(void* key, std::unique_ptr<DeviceData> data) {
  std::unique_lock lock(g_mutex);
  g_devices[key] = std::move(data);
  Changed();
}

std::unique_ptr<DeviceData> RemoveDeviceData(void* key) {
  std::unique_lock lock(g_mutex);
  auto node = g_devices.extract(key);
  Changed();
  return node.empty() ? nullptr : std::move(node.mapped());
}

PhysicalDeviceInfo InstanceData::Info(VkPhysicalDevice gpu) {
  {
    std::lock_guard lock(mutex);
    auto it = physical_devices.find(gpu);
    if (it != physical_devices.end()) return it->second;
  }
  PhysicalDeviceInfo info;
  uint32_t count = 0;
  if (next.EnumerateDeviceExtensionProperties(gpu, nullptr, &count, nullptr) == VK_SUCCESS) {
    std::vector<VkExtensionProperties> props(count);
    if (next.EnumerateDeviceExtensionProperties(gpu, nullptr, &count, props.data()) >= VK_SUCCESS) {
      props.resize(count);
      for (const auto& p : props) {
        if (std::strcmp(p.extensionName, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME) == 0) {
          info.has_external_memory_fd = true;
        }
        if (std::strcmp(p.extensionName, VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME) == 0) {
          info.has_native_win32 = true;
        }
        if (std::strcmp(p.extensionName, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME) == 0) {
          info.has_external_semaphore_fd = true;
        }
        if (std::strcmp(p.extensionName, VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME) == 0) {
          info.has_external_fence_fd = true;
        }
        if (std::strcmp(p.extensionName, VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME) == 0) {
          info.has_native_semaphore_win32 = true;
        }
        if (std::strcmp(p.extensionName, VK_KHR_EXTERNAL_FENCE_WIN32_EXTENSION_NAME) == 0) {
          info.has_native_fence_win32 = true;
        }
        if (std::strcmp(p.extensionName, VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME) == 0) {
          info.has_timeline_extension = true;
        }
        if (std::strcmp(p.extensionName, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME) == 0) {
          info.has_driver_properties = true;
        }
      }
    }
  }
  VkPhysicalDeviceProperties props{};
  next.GetPhysicalDeviceProperties(gpu, &props);
  info.api_version = props.apiVersion;
  if (next.GetPhysicalDeviceProperties2 != nullptr && api_version >= VK_API_VERSION_1_1 &&
      props.apiVersion >= VK_API_VERSION_1_1) {
    VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    const bool ask_driver =
        std::min(api_version, props.apiVersion) >= VK_API_VERSION_1_2 || info.has_driver_properties;
    VkPhysicalDeviceIDProperties id{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES,
                                    ask_driver ? &driver : nullptr};
    VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &id};
    next.GetPhysicalDeviceProperties2(gpu, &props2);
    std::memcpy(info.device_uuid, id.deviceUUID, VK_UUID_SIZE);
    std::memcpy(info.driver_uuid, id.driverUUID, VK_UUID_SIZE);
    if (ask_driver) info.driver_id = driver.driverID;
  }
  info.emulate = info.has_external_memory_fd && (!info.has_native_win32 || force_enable);
  // Semaphores and fences: the driver's opaque fd objects where it has them, else the shared payload, whose
  // queue operations need timeline semaphores (DESIGN.md §7).
  if (next.GetPhysicalDeviceFeatures2 != nullptr && api_version >= VK_API_VERSION_1_1 &&
      props.apiVersion >= VK_API_VERSION_1_1 &&
      (std::min(api_version, props.apiVersion) >= VK_API_VERSION_1_2 || info.has_timeline_extension)) {
    VkPhysicalDeviceTimelineSemaphoreFeatures timeline{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
    VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &timeline};
    next.GetPhysicalDeviceFeatures2(gpu, &features);
    info.has_timeline_semaphore = timeline.timelineSemaphore == VK_TRUE;
  }
  if (info.has_external_semaphore_fd) {
    info.semaphore_driver_payload = DriverSemaphoreOpaqueFd(*this, gpu, VK_SEMAPHORE_TYPE_BINARY);
    info.timeline_semaphore_driver_payload =
        info.has_timeline_semaphore && DriverSemaphoreOpaqueFd(*this, gpu, VK_SEMAPHORE_TYPE_TIMELINE);
  }
  if (info.has_external_fence_fd) info.fence_driver_payload = DriverFenceOpaqueFd(*this, gpu);
  info.emulate_semaphore = (!info.has_native_semaphore_win32 || force_enable) &&
                           (info.semaphore_driver_payload || info.has_timeline_semaphore);
  info.emulate_fence = (!info.has_native_fence_win32 || force_enable) &&
                       (info.fence_driver_payload || info.has_timeline_semaphore);
  std::lock_guard lock(mutex);
  physical_devices[gpu] = info;
  return info;
}

}  // namespace ntbridge
