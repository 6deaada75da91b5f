#include "dispatch.hpp"

#include <cstring>

namespace ntbridge {
namespace {

// One lock for the two maps; held only to find or change an entry, never while calling down the chain.
std::shared_mutex g_mutex;
std::unordered_map<void*, std::unique_ptr<InstanceData>> g_instances;
std::unordered_map<void*, std::unique_ptr<DeviceData>> g_devices;

}  // namespace

InstanceData* GetInstanceData(void* key) {
  std::shared_lock lock(g_mutex);
  auto it = g_instances.find(key);
  return it == g_instances.end() ? nullptr : it->second.get();
}

DeviceData* GetDeviceData(void* key) {
  std::shared_lock lock(g_mutex);
  auto it = g_devices.find(key);
  return it == g_devices.end() ? nullptr : it->second.get();
}

void AddInstanceData(void* key, std::unique_ptr<InstanceData> data) {
  std::unique_lock lock(g_mutex);
  g_instances[key] = std::move(data);
}

std::unique_ptr<InstanceData> RemoveInstanceData(void* key) {
  std::unique_lock lock(g_mutex);
  auto node = g_instances.extract(key);
  return node.empty() ? nullptr : std::move(node.mapped());
}

void AddDeviceData(void* key, std::unique_ptr<DeviceData> data) {
  std::unique_lock lock(g_mutex);
  g_devices[key] = std::move(data);
}

std::unique_ptr<DeviceData> RemoveDeviceData(void* key) {
  std::unique_lock lock(g_mutex);
  auto node = g_devices.extract(key);
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
      }
    }
  }
  VkPhysicalDeviceProperties props{};
  next.GetPhysicalDeviceProperties(gpu, &props);
  info.api_version = props.apiVersion;
  if (next.GetPhysicalDeviceProperties2 != nullptr && api_version >= VK_API_VERSION_1_1 &&
      props.apiVersion >= VK_API_VERSION_1_1) {
    VkPhysicalDeviceIDProperties id{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &id};
    next.GetPhysicalDeviceProperties2(gpu, &props2);
    std::memcpy(info.device_uuid, id.deviceUUID, VK_UUID_SIZE);
    std::memcpy(info.driver_uuid, id.driverUUID, VK_UUID_SIZE);
  }
  info.emulate = info.has_external_memory_fd && (!info.has_native_win32 || force_enable);
  std::lock_guard lock(mutex);
  physical_devices[gpu] = info;
  return info;
}

}  // namespace ntbridge
