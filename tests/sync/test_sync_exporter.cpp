// Imports of semaphore and fence NT handles checked against the object that exported them, in this process:
// by the layer's shared payload (its page tells the semaphore type) where the driver has no opaque fd sync
// objects (lavapipe), and by the handle's open file description where the payload is the driver's (NVIDIA,
// RADV, ANV: docs/validation.md, "NT handles traced to their exporter").
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "sync_support.hpp"

namespace ntbridge::test {
namespace {

class SyncExporterKnown : public SyncTest {
 protected:
  // The import must fail with exactly `vuid`.
  void ExpectRefused(VkResult r, const char* vuid) {
    EXPECT_EQ(r, VK_ERROR_VALIDATION_FAILED_EXT);
    auto problems = s->vk->monitor.Problems();
    ASSERT_EQ(problems.size(), 1u) << Describe(problems);
    EXPECT_EQ(problems[0].id, vuid);
  }
};

// VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262: the importing semaphore must have the exporter's
// semaphoreType. Also through a duplicate of the handle, and after the application closed the original.
TEST_F(SyncExporterKnown, BinarySemaphoreHandleIntoATimelineSemaphore) {
  VkSemaphore binary = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(binary, kSemNt);
  ASSERT_GT(Fd(h), 0);
  VkSemaphore timeline = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ExpectRefused(s->ImportSemaphore(timeline, kSemNt, h),
                "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262");
  const int copy = fcntl(Fd(h), F_DUPFD_CLOEXEC, 0);
  close(Fd(h));
  ExpectRefused(s->ImportSemaphore(timeline, kSemNt, reinterpret_cast<HANDLE>(static_cast<intptr_t>(copy))),
                "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262");
  // Into a binary semaphore it is valid.
  VkSemaphore other = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  EXPECT_EQ(s->ImportSemaphore(other, kSemNt, reinterpret_cast<HANDLE>(static_cast<intptr_t>(copy))),
            VK_SUCCESS);
  close(copy);
  vkDestroySemaphore(s->dev->device, other, nullptr);
  vkDestroySemaphore(s->dev->device, timeline, nullptr);
  vkDestroySemaphore(s->dev->device, binary, nullptr);
}

// A timeline semaphore's handle into a binary semaphore: 03262 too.
TEST_F(SyncExporterKnown, TimelineSemaphoreHandleIntoABinarySemaphore) {
  VkSemaphore timeline = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 3, kSemNt);
  HANDLE h = s->SemaphoreHandle(timeline, kSemNt);
  ASSERT_GT(Fd(h), 0);
  VkSemaphore binary = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  ExpectRefused(s->ImportSemaphore(binary, kSemNt, h),
                "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262");
  close(Fd(h));
  vkDestroySemaphore(s->dev->device, binary, nullptr);
  vkDestroySemaphore(s->dev->device, timeline, nullptr);
}

// A semaphore's handle is no fence's.
TEST_F(SyncExporterKnown, SemaphoreHandleIntoAFence) {
  VkSemaphore semaphore = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(semaphore, kSemNt);
  ASSERT_GT(Fd(h), 0);
  VkFence fence = s->Fence(false);
  ExpectRefused(s->ImportFence(fence, kFenceNt, h), "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461");
  close(Fd(h));
  vkDestroyFence(s->dev->device, fence, nullptr);
  vkDestroySemaphore(s->dev->device, semaphore, nullptr);
}

// What traces the handles goes with the objects: once the application closed its handles and destroyed the
// objects, no descriptor of their payloads is left.
TEST_F(SyncExporterKnown, NothingOfAnExportOutlivesItsObject) {
  // One export and import first, so that whatever the driver and the layer open once is open already.
  VkSemaphore warm = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  close(Fd(s->SemaphoreHandle(warm, kSemNt)));
  vkDestroySemaphore(s->dev->device, warm, nullptr);
  const int fds = CountOpenFds();
  VkSemaphore semaphore = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  VkFence fence = s->Fence(false, kFenceNt);
  HANDLE hs = s->SemaphoreHandle(semaphore, kSemNt);
  HANDLE hf = s->FenceHandle(fence, kFenceNt);
  VkSemaphore importer = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  EXPECT_EQ(s->ImportSemaphore(importer, kSemNt, hs), VK_SUCCESS);
  close(Fd(hs));
  close(Fd(hf));
  vkDestroySemaphore(s->dev->device, importer, nullptr);
  vkDestroySemaphore(s->dev->device, semaphore, nullptr);
  vkDestroyFence(s->dev->device, fence, nullptr);
  EXPECT_EQ(CountOpenFds(), fds);
}

}  // namespace
}  // namespace ntbridge::test
