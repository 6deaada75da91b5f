// The other process of the cross-process sync tests.
//
//   ntbridge_sync_child wait <name> <value> <timeout_ms>   import a timeline semaphore by name, host-wait
//   ntbridge_sync_child signal <name> <value>              import it by name, host-signal
//   ntbridge_sync_child fence <name>                       import a fence by name, signal it by a submission
//   ntbridge_sync_child hold <name> <ready_fd>             create a named timeline semaphore, say so, sleep
//   ntbridge_sync_child acquired <name> <fence_kmt> <timeout_ms>
//       the other process acquired a swapchain image: import the acquire's fence by its KMT value and wait on
//       it on the host, import its binary semaphore by name and wait on it in a submission
//
// Exit status: 0 done, 1 timed out, 2 import or creation failed, 3 VK_ERROR_DEVICE_LOST, 4 no device,
// 5 other failure, 6 (acquired) a validation message.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "sync_support.hpp"

using ntbridge::test::kFenceKmt;
using ntbridge::test::kFenceNt;
using ntbridge::test::kSemNt;
using ntbridge::test::SyncDevice;

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s wait|signal|fence|hold|acquired <name> ...\n", argv[0]);
    return 64;
  }
  std::string n = argv[2];
  std::wstring name(n.begin(), n.end());
  SyncDevice s;
  if (!s.ok()) {
    std::fprintf(stderr, "sync child: %s\n", s.error.c_str());
    return 4;
  }
  VkDevice device = s.dev->device;
  if (mode == "hold" && argc == 4) {
    VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR,
                                              nullptr, nullptr, 0, name.c_str()};
    VkResult r = VK_SUCCESS;
    VkSemaphore sem = s.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt, &win32, &r);
    if (r != VK_SUCCESS) return 2;
    char ready = 1;
    if (write(std::atoi(argv[3]), &ready, 1) != 1) return 5;
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // until killed
    (void)sem;
  }
  if (mode == "acquired" && argc == 5) {
    const uint64_t timeout = std::strtoull(argv[4], nullptr, 0) * 1000 * 1000;
    VkFence acquired = s.Fence(false);
    HANDLE kmt = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(std::strtoull(argv[3], nullptr, 0)));
    if (s.ImportFence(acquired, kFenceKmt, kmt) != VK_SUCCESS) return 2;
    if (s.WaitFence(acquired, timeout) != VK_SUCCESS) return 1;
    VkSemaphore sem = s.Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
    if (s.ImportSemaphore(sem, kSemNt, nullptr, name.c_str()) != VK_SUCCESS) return 2;
    VkFence done = s.Fence(false);
    if (s.Submit({{sem}}, {}, done) != VK_SUCCESS) return 5;
    // Not signalled in time: the submission still waits, and destroying the device would wait with it.
    if (s.WaitFence(done, timeout) != VK_SUCCESS) _exit(1);
    for (VkFence f : {acquired, done}) vkDestroyFence(device, f, nullptr);
    vkDestroySemaphore(device, sem, nullptr);
    auto problems = s.vk->monitor.Problems();
    if (!problems.empty()) {
      std::fprintf(stderr, "sync child: validation messages:%s\n",
                   ntbridge::test::Describe(problems).c_str());
      return 6;
    }
    return 0;
  }
  if (mode == "fence") {
    VkFence f = s.Fence(false);
    if (s.ImportFence(f, kFenceNt, nullptr, name.c_str()) != VK_SUCCESS) return 2;
    if (s.Submit({}, {}, f) != VK_SUCCESS) return 5;
    vkQueueWaitIdle(s.dev->queue);
    vkDestroyFence(device, f, nullptr);
    return 0;
  }
  VkSemaphore sem = s.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  if (s.ImportSemaphore(sem, kSemNt, nullptr, name.c_str()) != VK_SUCCESS) return 2;
  int status = 5;
  if (mode == "wait" && argc == 5) {
    uint64_t value = std::strtoull(argv[3], nullptr, 0);
    uint64_t timeout = std::strtoull(argv[4], nullptr, 0) * 1000 * 1000;
    VkResult r = s.HostWait(sem, value, timeout);
    status = r == VK_SUCCESS ? 0 : r == VK_TIMEOUT ? 1 : r == VK_ERROR_DEVICE_LOST ? 3 : 5;
  } else if (mode == "signal" && argc == 4) {
    status = s.HostSignal(sem, std::strtoull(argv[3], nullptr, 0)) == VK_SUCCESS ? 0 : 5;
  }
  vkDestroySemaphore(device, sem, nullptr);
  return status;
}
