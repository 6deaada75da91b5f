// Test support for Win32 semaphores and fences: a device with the two sync extensions (and memory), the
// extensions' commands, and small helpers to create, export, import and submit.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vk_fixture.hpp"

namespace ntbridge::test {

inline constexpr auto kSemNt = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
inline constexpr auto kSemKmt = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
inline constexpr auto kFenceNt = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
inline constexpr auto kFenceKmt = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

inline int Fd(HANDLE h) { return static_cast<int>(reinterpret_cast<intptr_t>(h)); }

struct SyncDeviceOptions {
  // (16 bytes): the physical device with that VkPhysicalDeviceIDProperties::deviceUUID, such as a CUDA
  // device's; else NTBRIDGE_TEST_DEVICE's (lavapipe by default).
  const uint8_t* device_uuid = nullptr;
  std::vector<const char*> instance_extensions;  // beside VK_EXT_debug_utils
  std::vector<const char*> device_extensions;    // beside the three Win32 extensions
  // The device is made a device group: VkDeviceGroupDeviceCreateInfo with every physical device of the
  // group (vkEnumeratePhysicalDeviceGroups) that holds the chosen one.
  bool device_group = false;
  // VK_KHR_synchronization2 and its feature are enabled (vkQueueSubmit2KHR on a Vulkan 1.2 device).
  bool synchronization2 = false;
};

// A device with VK_KHR_external_semaphore_win32, VK_KHR_external_fence_win32 and VK_KHR_external_memory_win32
// through ntbridge, over the Khronos validation layer, on an instance of Vulkan 1.2 (timeline semaphores).
class SyncDevice {
 public:
  explicit SyncDevice(const uint8_t* device_uuid = nullptr);
  explicit SyncDevice(const SyncDeviceOptions& options);
  ~SyncDevice();
  bool ok() const { return dev && dev->device != VK_NULL_HANDLE; }
  std::string error;
  // The physical devices of the device group (SyncDeviceOptions::device_group), else 0.
  uint32_t group_size = 0;

  std::unique_ptr<VulkanInstance> vk;
  std::unique_ptr<VulkanDevice> dev;
  PFN_vkGetSemaphoreWin32HandleKHR GetSemaphoreWin32HandleKHR = nullptr;
  PFN_vkImportSemaphoreWin32HandleKHR ImportSemaphoreWin32HandleKHR = nullptr;
  PFN_vkGetFenceWin32HandleKHR GetFenceWin32HandleKHR = nullptr;
  PFN_vkImportFenceWin32HandleKHR ImportFenceWin32HandleKHR = nullptr;

  // `export_types` 0: not exportable. `win32` chained after VkExportSemaphoreCreateInfo when given.
  VkSemaphore Semaphore(VkSemaphoreType type = VK_SEMAPHORE_TYPE_BINARY, uint64_t initial = 0,
                        VkExternalSemaphoreHandleTypeFlags export_types = 0,
                        const VkExportSemaphoreWin32HandleInfoKHR* win32 = nullptr,
                        VkResult* result = nullptr);
  VkFence Fence(bool signalled = false, VkExternalFenceHandleTypeFlags export_types = 0,
                const VkExportFenceWin32HandleInfoKHR* win32 = nullptr, VkResult* result = nullptr);
  HANDLE SemaphoreHandle(VkSemaphore s, VkExternalSemaphoreHandleTypeFlagBits type,
                         VkResult* result = nullptr);
  HANDLE FenceHandle(VkFence f, VkExternalFenceHandleTypeFlagBits type, VkResult* result = nullptr);
  VkResult ImportSemaphore(VkSemaphore s, VkExternalSemaphoreHandleTypeFlagBits type, HANDLE handle,
                           LPCWSTR name = nullptr, VkSemaphoreImportFlags flags = 0);
  VkResult ImportFence(VkFence f, VkExternalFenceHandleTypeFlagBits type, HANDLE handle,
                       LPCWSTR name = nullptr, VkFenceImportFlags flags = 0);

  struct Op {
    VkSemaphore semaphore;
    uint64_t value = 0;         // timeline semaphores
    uint32_t device_index = 0;  // vkQueueSubmit2: VkSemaphoreSubmitInfo::deviceIndex
  };
  // One vkQueueSubmit batch: waits (at all commands), `commands`, signals. `pnext` is chained after the
  // VkTimelineSemaphoreSubmitInfo the batch carries.
  VkResult Submit(const std::vector<Op>& waits, const std::vector<Op>& signals,
                  VkFence fence = VK_NULL_HANDLE, const std::vector<VkCommandBuffer>& commands = {},
                  const void* pnext = nullptr);
  // The same through vkQueueSubmit2; `device_mask` is each VkCommandBufferSubmitInfo::deviceMask.
  VkResult Submit2(const std::vector<Op>& waits, const std::vector<Op>& signals,
                   VkFence fence = VK_NULL_HANDLE, const std::vector<VkCommandBuffer>& commands = {},
                   uint32_t device_mask = 0);
  uint64_t Counter(VkSemaphore s);
  VkResult HostSignal(VkSemaphore s, uint64_t value);
  VkResult HostWait(VkSemaphore s, uint64_t value, uint64_t timeout_ns);
  VkResult WaitFence(VkFence f, uint64_t timeout_ns);
  // The device gives Win32 semaphores the driver's own opaque fd payload (NVIDIA), not the layer's shared
  // one.
  bool DriverPayload();
  // The physical device is Mesa's lavapipe.
  bool Lavapipe();
};

// Whether the driver of `gpu`, a physical device of an instance without ntbridge, exports and imports
// timeline semaphores as opaque fds: then ntbridge gives Win32 timeline semaphores the driver's payload
// (NVIDIA), else its own shared payload (lavapipe). The instance must be of Vulkan 1.2
// (VkSemaphoreTypeCreateInfo).
bool DriverHasExternalTimelineFd(VkPhysicalDevice gpu);

// Primary command buffers of one pool on the device's queue family, freed with the recorder.
class CommandRecorder {
 public:
  explicit CommandRecorder(VulkanDevice& dev);
  ~CommandRecorder();
  CommandRecorder(const CommandRecorder&) = delete;
  CommandRecorder& operator=(const CommandRecorder&) = delete;
  // A command buffer that `record` filled, ended and ready to submit.
  VkCommandBuffer Record(const std::function<void(VkCommandBuffer)>& record);

 private:
  VulkanDevice& dev_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  std::vector<VkCommandBuffer> commands_;
};

// A fixture with a SyncDevice that fails the test on any validation message it did not take itself.
class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::unique_ptr<SyncDevice> s;
};

// A unique name for this test run ("Local\ntbridge-test-<pid>-<n>").
std::wstring UniqueName(const char* tag);
// A name as the child's command line carries it (the test names are ASCII).
std::string Narrow(const std::wstring& w);

// ntbridge_sync_child (NTBRIDGE_SYNC_CHILD, else the one beside the test program), started with exec.
struct SyncChild {
  pid_t pid = -1;
  int Wait();  // exit status, or 128 + signal
};
SyncChild StartSyncChild(const std::vector<std::string>& args);

}  // namespace ntbridge::test
