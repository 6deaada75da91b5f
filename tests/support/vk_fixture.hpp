// Test support: a Vulkan instance and device through the real loader, with ntbridge above the Khronos
// validation layer, and a monitor that collects every debug-utils message.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#define VK_USE_PLATFORM_WIN32_KHR 1
#include <vulkan/vulkan.h>

namespace ntbridge::test {

inline constexpr const char* kLayer = "VK_LAYER_NTBRIDGE_external_win32";
inline constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

struct Message {
  VkDebugUtilsMessageSeverityFlagBitsEXT severity;
  std::string id;
  std::string text;
};

// Collects messages; tests assert on them.
class Monitor {
 public:
  void Add(Message m);
  std::vector<Message> Take();
  // Errors and warnings (info messages are ignored).
  std::vector<Message> Problems();
  void Clear();
  static VKAPI_ATTR VkBool32 VKAPI_CALL Callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                 void* user);

 private:
  std::mutex mutex_;
  std::vector<Message> messages_;
};

std::string Describe(const std::vector<Message>& messages);

struct InstanceOptions {
  bool ntbridge = true;
  bool validation = true;
  uint32_t api_version = VK_API_VERSION_1_1;
  // Enabled beside VK_EXT_debug_utils (surface extensions for the WSI tests).
  std::vector<const char*> extensions;
};

// One instance, the test physical device (NTBRIDGE_TEST_DEVICE picks by name; lavapipe by default).
class VulkanInstance {
 public:
  explicit VulkanInstance(const InstanceOptions& options = {});
  ~VulkanInstance();
  VulkanInstance(const VulkanInstance&) = delete;
  VulkanInstance& operator=(const VulkanInstance&) = delete;

  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice gpu = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  Monitor monitor;
  bool ok() const { return gpu != VK_NULL_HANDLE; }
  std::string error;
};

// A device with VK_KHR_external_memory_win32 enabled (unless `extensions` says otherwise).
class VulkanDevice {
 public:
  // `pnext` is chained to VkDeviceCreateInfo (VkDeviceGroupDeviceCreateInfo for the device-group tests).
  VulkanDevice(VulkanInstance& instance,
               std::vector<const char*> extensions = {"VK_KHR_external_memory_win32"},
               const void* pnext = nullptr);
  ~VulkanDevice();
  VulkanDevice(const VulkanDevice&) = delete;
  VulkanDevice& operator=(const VulkanDevice&) = delete;

  VkDevice device = VK_NULL_HANDLE;
  VkResult create_result = VK_ERROR_UNKNOWN;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  PFN_vkGetMemoryWin32HandleKHR GetMemoryWin32HandleKHR = nullptr;
  PFN_vkGetMemoryWin32HandlePropertiesKHR GetMemoryWin32HandlePropertiesKHR = nullptr;
  PFN_vkGetMemoryFdKHR GetMemoryFdKHR = nullptr;

  // A host-visible, host-coherent memory type that can be exported as `type` (from the query).
  uint32_t HostVisibleType() const;

  VkResult Allocate(VkDeviceSize size, uint32_t type_index, const void* pnext, VkDeviceMemory* memory);
  // Allocates exportable memory with `types` in VkExportMemoryAllocateInfo (and `win32` chained, if given).
  // `type_index` UINT32_MAX: HostVisibleType().
  VkDeviceMemory AllocateExportable(VkDeviceSize size, VkExternalMemoryHandleTypeFlags types,
                                    const VkExportMemoryWin32HandleInfoKHR* win32 = nullptr,
                                    uint32_t type_index = UINT32_MAX);
  VkDeviceMemory ImportHandle(VkDeviceSize size, VkExternalMemoryHandleTypeFlagBits type, HANDLE handle,
                              LPCWSTR name = nullptr, VkResult* result = nullptr,
                              uint32_t type_index = UINT32_MAX);
  // The first memory type allowed by `bits` (from VkMemoryRequirements::memoryTypeBits).
  uint32_t TypeFromBits(uint32_t bits) const;
  HANDLE GetHandle(VkDeviceMemory memory, VkExternalMemoryHandleTypeFlagBits type,
                   VkResult* result = nullptr);

  void Write(VkDeviceMemory memory, VkDeviceSize offset, const void* data, size_t size);
  void Read(VkDeviceMemory memory, VkDeviceSize offset, void* data, size_t size);
  uint32_t ReadU32(VkDeviceMemory memory, VkDeviceSize offset = 0);
  void WriteU32(VkDeviceMemory memory, uint32_t value, VkDeviceSize offset = 0);
  void Free(VkDeviceMemory memory);

  VulkanInstance& owner;
};

// Number of open descriptors of this process.
int CountOpenFds();

// Whether the broker ntbridged lies beside the layer in one of VK_ADD_LAYER_PATH's folders (':'-separated:
// the validation layer's folder may be listed too), where the layer finds it.
bool BrokerBesideLayer();

// Base fixture: an instance with ntbridge over validation and a device with the extension. Every test ends by
// checking that no validation error or warning was reported, unless it took the messages itself.
class LayerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::unique_ptr<VulkanInstance> vk;
  std::unique_ptr<VulkanDevice> dev;
};

}  // namespace ntbridge::test
