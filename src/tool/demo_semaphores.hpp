// The demo's timeline semaphores: the producer exports `ready` and `free` by NT handle, KMT value or name
// (VK_KHR_external_semaphore_win32; by OPAQUE_FD descriptor with --mode fd), the consumer imports them; and
// host waits that give up with a clear error instead of hanging when the other process is gone.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ntbridge/handle.hpp>
#include <string>

#include "demo.hpp"
#include "demo_protocol.hpp"
#include "vk_session.hpp"

namespace ntbridge::tool {

// A timeline semaphore of this process, starting at 0; destroyed with the object.
class Timeline {
 public:
  // `pnext`: further VkSemaphoreCreateInfo structures (VkExportSemaphoreCreateInfo).
  explicit Timeline(VkDevice device, const void* pnext = nullptr);
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;
  VkSemaphore get() const { return semaphore_; }

 private:
  VkDevice device_;
  VkSemaphore semaphore_ = VK_NULL_HANDLE;
};

// The producer's exported timeline semaphore: OPAQUE_WIN32 for kNt (an NT handle) and kName (the name,
// given to VkExportSemaphoreWin32HandleInfoKHR), OPAQUE_WIN32_KMT for kKmt, OPAQUE_FD for kFd (the driver's
// descriptor, vkGetSemaphoreFdKHR).
class ExportedTimeline {
 public:
  ExportedTimeline(const Device& device, DemoMode mode, const std::wstring& name);
  VkSemaphore get() const { return timeline_->get(); }
  NtHandle handle;    // kNt; kFd: the OPAQUE_FD descriptor
  uint32_t kmt = 0;   // kKmt
  std::wstring name;  // kName

 private:
  std::unique_ptr<Timeline> timeline_;
};

VkExternalSemaphoreHandleTypeFlagBits SemaphoreHandleType(DemoMode mode);

// Describes both semaphores in `setup` (KMT values and names; NT handles travel beside it).
void DescribeSemaphores(const ExportedTimeline& ready, const ExportedTimeline& freed, DemoSetup& setup);

// The consumer's copy of semaphore `which` of `setup`: a new timeline semaphore into which the payload is
// imported (permanently) by NT handle (`handle`, which stays the caller's, as with Win32 imports), KMT value
// or name; or, with setup.handle_type OPAQUE_FD, by a duplicate of the descriptor `handle`
// (vkImportSemaphoreFdKHR takes the descriptor it imports).
std::unique_ptr<Timeline> ImportTimeline(const Device& device, const DemoSetup& setup, DemoSemaphore which,
                                         const NtHandle& handle);

// What vkGetPhysicalDeviceExternalSemaphoreProperties says of timeline semaphores of handle type `type` on
// `gpu` (through whatever layers the instance has).
VkExternalSemaphoreProperties TimelineProperties(VkPhysicalDevice gpu,
                                                 VkExternalSemaphoreHandleTypeFlagBits type);

// Throws ToolError, saying why, unless timeline semaphores shared as OPAQUE_WIN32 through ntbridge on `gpu`
// are the driver's own (compatible with OPAQUE_FD): CUDA imports only its driver's semaphores, never
// ntbridge's shared payload (DESIGN.md §7; lavapipe has no VK_KHR_external_semaphore_fd).
void RequireDriverTimelinePayload(VkPhysicalDevice gpu, const std::string& who);

// Waits on the host until `semaphore` reaches `value`, calling `between` (which may throw) about every
// 100 ms; throws ToolError naming `what` after `seconds` without progress.
void WaitTimeline(VkDevice device, VkSemaphore semaphore, uint64_t value, const std::string& what,
                  const std::function<void()>& between = {}, double seconds = 60);

}  // namespace ntbridge::tool
