// The other process of the cross-process sync tests.
//
//   ntbridge_sync_child wait <name> <value> <timeout_ms>   import a timeline semaphore by name, host-wait
//   ntbridge_sync_child signal <name> <value>              import it by name, host-signal
//   ntbridge_sync_child fence <name>                       import a fence by name, signal it by a submission
//   ntbridge_sync_child hold <name> <ready_fd>             create a named timeline semaphore, say so, sleep
//
// Exit status: 0 done, 1 timed out, 2 import or creation failed, 3 VK_ERROR_DEVICE_LOST, 4 no device,
// 5 other failure.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "sync_support.hpp"

using ntbridge::test::kFenceNt;
using ntbridge::test::kSemNt;
using ntbridge::test::SyncDevice;

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s wait|signal|fence|hold <name> ...\n", argv[0]);
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
