// Vulkan objects the tool's commands share: an instance with or without the layer, physical device facts, a
// device with VK_KHR_external_memory_win32 and one queue.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "errors.hpp"

namespace ntbridge::tool {

inline constexpr const char* kLayerName = "VK_LAYER_NTBRIDGE_external_win32";

class Instance {
 public:
  // with_layer: VK_LAYER_NTBRIDGE_external_win32 enabled (throws ToolError saying how to make the loader
  // find it when it is missing). Without: whatever else the environment enables; native_query.hpp asks the
  // driver alone. `loader_messages`, when given, receives what the loader reports while creating the
  // instance (through a VkDebugUtilsMessengerCreateInfoEXT in its pNext chain), among it the layers it
  // inserts (InsertedLayers); it must outlive the instance (the loader reports vkDestroyInstance there too).
  explicit Instance(bool with_layer, std::vector<std::string>* loader_messages = nullptr);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  VkInstance get() const { return instance_; }
  std::vector<VkPhysicalDevice> PhysicalDevices() const;

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
};

struct GpuFacts {
  VkPhysicalDeviceProperties properties{};
  VkPhysicalDeviceDriverProperties driver{};
  uint8_t device_uuid[VK_UUID_SIZE] = {};
  uint8_t driver_uuid[VK_UUID_SIZE] = {};
  std::set<std::string> extensions;  // the device extensions (vkEnumerateDeviceExtensionProperties)
  bool Has(const std::string& extension) const { return extensions.count(extension) != 0; }
};
GpuFacts QueryGpu(VkPhysicalDevice gpu);
std::string UuidString(const uint8_t* uuid);

// The layers the loader says it inserted into an instance ("Insert instance layer \"NAME\" (library)"), in
// the order of `loader_messages`.
std::vector<std::string> InsertedLayers(const std::vector<std::string>& loader_messages);

// The device to use: the first whose name contains `wanted` when given; otherwise an NVIDIA GPU when one is
// present, else lavapipe (llvmpipe), else the first.
VkPhysicalDevice PickGpu(const Instance& instance, const std::string& wanted);
// The device whose deviceUUID is `uuid` (throws ToolError when none).
VkPhysicalDevice GpuByUuid(const Instance& instance, const uint8_t* uuid);

// Which extensions a Device shares through: the Win32 ones ntbridge provides, or the driver's own fd ones
// (`ntbridge demo --mode fd`, the baseline without ntbridge).
enum class HandleApi { kWin32, kFd };

class Device {
 public:
  // VK_KHR_external_memory_win32 (kWin32) or VK_KHR_external_memory_fd (kFd). With `semaphores`, also
  // VK_KHR_external_semaphore_win32 (or _fd) and the timelineSemaphore feature (throws ToolError saying so
  // where the device lacks them).
  explicit Device(VkPhysicalDevice gpu, bool semaphores = false, HandleApi api = HandleApi::kWin32);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkDevice get() const { return device_; }
  VkPhysicalDevice gpu() const { return gpu_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  // A HOST_VISIBLE | HOST_COHERENT memory type among `type_bits` (throws ToolError when none).
  uint32_t HostVisibleType(uint32_t type_bits) const;
  // A DEVICE_LOCAL memory type among `type_bits`, else the first of them.
  uint32_t DeviceLocalType(uint32_t type_bits) const;
  HandleApi api() const { return api_; }
  // kWin32:
  PFN_vkGetMemoryWin32HandleKHR GetMemoryWin32HandleKHR = nullptr;
  PFN_vkGetSemaphoreWin32HandleKHR GetSemaphoreWin32HandleKHR = nullptr;        // with `semaphores`
  PFN_vkImportSemaphoreWin32HandleKHR ImportSemaphoreWin32HandleKHR = nullptr;  // with `semaphores`
  // kFd:
  PFN_vkGetMemoryFdKHR GetMemoryFdKHR = nullptr;
  PFN_vkGetSemaphoreFdKHR GetSemaphoreFdKHR = nullptr;        // with `semaphores`
  PFN_vkImportSemaphoreFdKHR ImportSemaphoreFdKHR = nullptr;  // with `semaphores`

 private:
  void LoadWin32Functions(bool semaphores);
  void LoadFdFunctions(bool semaphores);

  VkPhysicalDevice gpu_;
  HandleApi api_;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
};

}  // namespace ntbridge::tool
