// Benchmark support for semaphores and fences (issues 12 and 13): the two sides of bench_vk.hpp, with the
// sync extensions instead of the memory ones.
//  - the Win32 side: an instance WITH VK_LAYER_NTBRIDGE_external_win32, a device with
//    VK_KHR_external_semaphore_win32 and VK_KHR_external_fence_win32 (the layer's path: a shared payload on
//    a driver without external sync, the driver's opaque fd payload where it has one);
//  - the fd side: an instance WITHOUT the layer, a device with VK_KHR_external_semaphore_fd and
//    VK_KHR_external_fence_fd where the driver has them (the driver's own path), and plain driver objects
//    everywhere (the reference for the queue wait).
// Both at Vulkan 1.2 with the timelineSemaphore feature, on the same physical device and queue family.
#pragma once

#include <cstdint>
#include <string>

#include "bench_vk.hpp"

namespace ntbridge::bench {

inline constexpr auto kSemNt = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
inline constexpr auto kSemKmt = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
inline constexpr auto kSemFd = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
inline constexpr auto kFenceNt = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
inline constexpr auto kFenceFd = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT;

class SyncSide {
 public:
  explicit SyncSide(Side side);
  ~SyncSide();
  SyncSide(const SyncSide&) = delete;
  SyncSide& operator=(const SyncSide&) = delete;

  Side side;
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice gpu = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  std::string device_name;
  std::string driver_info;
  // The side can export and import its kind of handle (Win32 side: always, or it dies; fd side: where the
  // driver has the extension and exports timeline semaphores / fences as OPAQUE_FD). `why_not_*` says why
  // not, for the benchmarks' skip messages.
  bool exports_semaphores = false;
  bool exports_fences = false;
  std::string why_not_semaphores;
  std::string why_not_fences;

  PFN_vkCreateSemaphore CreateSemaphore = nullptr;
  PFN_vkDestroySemaphore DestroySemaphore = nullptr;
  PFN_vkSignalSemaphore SignalSemaphore = nullptr;
  PFN_vkWaitSemaphores WaitSemaphores = nullptr;
  PFN_vkCreateFence CreateFence = nullptr;
  PFN_vkDestroyFence DestroyFence = nullptr;
  PFN_vkWaitForFences WaitForFences = nullptr;
  PFN_vkResetFences ResetFences = nullptr;
  PFN_vkQueueSubmit QueueSubmit = nullptr;
  PFN_vkGetSemaphoreWin32HandleKHR GetSemaphoreWin32HandleKHR = nullptr;
  PFN_vkImportSemaphoreWin32HandleKHR ImportSemaphoreWin32HandleKHR = nullptr;
  PFN_vkGetFenceWin32HandleKHR GetFenceWin32HandleKHR = nullptr;
  PFN_vkImportFenceWin32HandleKHR ImportFenceWin32HandleKHR = nullptr;
  PFN_vkGetSemaphoreFdKHR GetSemaphoreFdKHR = nullptr;
  PFN_vkImportSemaphoreFdKHR ImportSemaphoreFdKHR = nullptr;
  PFN_vkGetFenceFdKHR GetFenceFdKHR = nullptr;
  PFN_vkImportFenceFdKHR ImportFenceFdKHR = nullptr;

  // A timeline semaphore: plain (`exportable` false), or exportable as this side's handle type (OPAQUE_WIN32
  // on the Win32 side, with `name` in VkExportSemaphoreWin32HandleInfoKHR when given; OPAQUE_FD on the fd
  // side). VK_NULL_HANDLE with `*result` set on failure.
  VkSemaphore Timeline(bool exportable, uint64_t initial = 0, VkResult* result = nullptr,
                       const wchar_t* name = nullptr);
  VkFence Fence(bool exportable, VkResult* result = nullptr);
  // The NT handle (Win32 side) or the opaque fd (fd side) as a descriptor the caller owns; -1 on failure.
  int ExportSemaphore(VkSemaphore semaphore, VkResult* result = nullptr);
  int ExportFence(VkFence fence, VkResult* result = nullptr);
  // Imports with the ownership shape of the Win32 API: the caller keeps `fd` (the Win32 side passes it as an
  // NT handle, the layer duplicates it; the fd side duplicates it itself, as the driver consumes it).
  VkResult ImportSemaphoreKeep(VkSemaphore semaphore, int fd);
  VkResult ImportFenceKeep(VkFence fence, int fd);
  // Win32 side only: import by VkImportSemaphoreWin32HandleInfoKHR::name.
  VkResult ImportSemaphoreName(VkSemaphore semaphore, const wchar_t* name);

  VkResult Signal(VkSemaphore semaphore, uint64_t value);
  VkResult Wait(VkSemaphore semaphore, uint64_t value, uint64_t timeout_ns = UINT64_MAX);
  // One batch: waits on `wait` for `wait_value` (unless VK_NULL_HANDLE), runs `command_buffer` (unless
  // VK_NULL_HANDLE), signals `signal` with `signal_value` (unless VK_NULL_HANDLE), and `fence`.
  VkResult Submit(VkSemaphore wait, uint64_t wait_value, VkCommandBuffer command_buffer, VkSemaphore signal,
                  uint64_t signal_value, VkFence fence);

  // A small piece of GPU work: a command buffer filling a 64 KiB buffer (recorded once, reusable).
  VkCommandBuffer work = VK_NULL_HANDLE;
  // The least GPU work: a command buffer filling 4 bytes of that buffer, recorded with
  // VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT (a chain has it pending many times at once).
  VkCommandBuffer tiny = VK_NULL_HANDLE;

 private:
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  void RecordWork(uint32_t family);
};

}  // namespace ntbridge::bench
