// Queue operations on shared semaphores and fences: a queue signal is published only once the GPU work before
// it has completed, and a queue wait holds back the GPU work after it until the shared state allows it. The
// data the GPU copies shows the order, not only the fences.
#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "sync_support.hpp"

namespace ntbridge::test {
namespace {

constexpr uint64_t kMs = 1000 * 1000;

int CountThreads() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// Two host-visible buffers: fill `src` on the GPU, or copy `src` to `dst` (submitted with
// SyncDevice::Submit).
class GpuWork {
 public:
  explicit GpuWork(VulkanDevice& dev) : dev_(dev), recorder_(dev) {
    for (int i = 0; i < 2; ++i) {
      VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
      bi.size = 256;
      bi.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
      EXPECT_EQ(vkCreateBuffer(dev.device, &bi, nullptr, &buffers_[i]), VK_SUCCESS);
      VkMemoryRequirements req;
      vkGetBufferMemoryRequirements(dev.device, buffers_[i], &req);
      EXPECT_EQ(dev.Allocate(req.size, dev.HostVisibleType(), nullptr, &memory_[i]), VK_SUCCESS);
      vkBindBufferMemory(dev.device, buffers_[i], memory_[i], 0);
    }
  }
  ~GpuWork() {
    vkDeviceWaitIdle(dev_.device);
    for (int i = 0; i < 2; ++i) {
      vkDestroyBuffer(dev_.device, buffers_[i], nullptr);
      dev_.Free(memory_[i]);
    }
  }
  std::vector<VkCommandBuffer> Fill(uint32_t value) {
    return Record([&](VkCommandBuffer c) { vkCmdFillBuffer(c, buffers_[0], 0, 256, value); });
  }
  std::vector<VkCommandBuffer> Copy() {
    return Record([&](VkCommandBuffer c) {
      VkBufferCopy region{0, 0, 256};
      vkCmdCopyBuffer(c, buffers_[0], buffers_[1], 1, &region);
    });
  }
  uint32_t Src() { return dev_.ReadU32(memory_[0]); }
  uint32_t Dst() { return dev_.ReadU32(memory_[1]); }
  void SetSrc(uint32_t v) { dev_.WriteU32(memory_[0], v); }

 private:
  template <typename F>
  std::vector<VkCommandBuffer> Record(F&& f) {
    return {recorder_.Record([&](VkCommandBuffer c) {
      f(c);
      // Host reads after the fence or semaphore see the transfer's writes.
      VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                              VK_ACCESS_HOST_READ_BIT};
      vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0,
                           nullptr, 0, nullptr);
    })};
  }
  VulkanDevice& dev_;
  VkBuffer buffers_[2] = {};
  VkDeviceMemory memory_[2] = {};
  CommandRecorder recorder_;
};

class SyncQueue : public SyncTest {};

TEST_F(SyncQueue, QueueWaitHoldsBackTheWorkAfterItUntilTheHostSignal) {
  GpuWork gpu(*s->dev);
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(a, kSemNt);
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(b, kSemNt, h), VK_SUCCESS);
  close(Fd(h));
  VkFence done = s->Fence(false);
  gpu.SetSrc(0xAAAA);
  ASSERT_EQ(s->Submit({{b, 1}}, {}, done, gpu.Copy()), VK_SUCCESS);  // wait before signal
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(vkGetFenceStatus(s->dev->device, done), VK_NOT_READY)
      << "the work ran before the semaphore allowed it";
  gpu.SetSrc(0xBBBB);
  ASSERT_EQ(s->HostSignal(a, 1), VK_SUCCESS);
  ASSERT_EQ(s->WaitFence(done, 5000 * kMs), VK_SUCCESS);
  EXPECT_EQ(gpu.Dst(), 0xBBBBu) << "the copy read what was there before the signal";
  vkDestroyFence(s->dev->device, done, nullptr);
  vkDestroySemaphore(s->dev->device, a, nullptr);
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

// A host signal in the process that has queue waits on the payload releases them itself (QueueBridge::
// SignalAndRelease), before the gate wakes: each wait only once the value reaches it, and through another
// mapping of the same payload (the import) too.
TEST_F(SyncQueue, HostSignalsReleaseQueueWaitsOnlyAtTheirValue) {
  GpuWork gpu(*s->dev);
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(a, kSemNt);
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(b, kSemNt, h), VK_SUCCESS);
  close(Fd(h));
  constexpr uint32_t kRounds = 6;
  VkFence done[kRounds];
  for (uint32_t r = 0; r < kRounds; ++r) {
    done[r] = s->Fence(false);
    ASSERT_EQ(s->Submit({{b, 2 * r + 2}}, {}, done[r], gpu.Fill(0xE000 + r)), VK_SUCCESS);
  }
  for (uint32_t r = 0; r < kRounds; ++r) {
    ASSERT_EQ(s->HostSignal(a, 2 * r + 1), VK_SUCCESS);  // one short of this round's wait
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(vkGetFenceStatus(s->dev->device, done[r]), VK_NOT_READY)
        << "round " << r << ": the work ran before the counter reached its wait's value";
    ASSERT_EQ(s->HostSignal(a, 2 * r + 2), VK_SUCCESS);
    ASSERT_EQ(s->WaitFence(done[r], 5000 * kMs), VK_SUCCESS) << "round " << r;
    EXPECT_EQ(gpu.Src(), 0xE000 + r) << "round " << r;
  }
  for (VkFence f : done) vkDestroyFence(s->dev->device, f, nullptr);
  vkDestroySemaphore(s->dev->device, a, nullptr);
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

TEST_F(SyncQueue, QueueSignalIsPublishedAfterTheWorkBeforeIt) {
  GpuWork gpu(*s->dev);
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemKmt);
  HANDLE k = s->SemaphoreHandle(a, kSemKmt);
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(b, kSemKmt, k), VK_SUCCESS);
  for (uint32_t round = 1; round <= 20; ++round) {
    ASSERT_EQ(s->Submit({}, {{a, round}}, VK_NULL_HANDLE, gpu.Fill(0xC000 + round)), VK_SUCCESS);
    ASSERT_EQ(s->HostWait(b, round, 5000 * kMs), VK_SUCCESS) << "round " << round;
    EXPECT_EQ(gpu.Src(), 0xC000 + round) << "the signal was seen before the fill it follows completed";
  }
  // The last signal was seen through b, so the batches that signal a have completed; the Khronos validation
  // layer tracks a and b apart and cannot know it (on a driver payload it would report a in use).
  vkQueueWaitIdle(s->dev->queue);
  vkDestroySemaphore(s->dev->device, a, nullptr);
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

TEST_F(SyncQueue, BinarySemaphoreSignalThenWaitAcrossImport) {
  GpuWork gpu(*s->dev);
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(a, kSemNt);
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  ASSERT_EQ(s->ImportSemaphore(b, kSemNt, h), VK_SUCCESS);
  close(Fd(h));
  VkFence done = s->Fence(false);
  for (uint32_t round = 1; round <= 10; ++round) {
    ASSERT_EQ(s->Submit({}, {{a, 0}}, VK_NULL_HANDLE, gpu.Fill(0xD000 + round)), VK_SUCCESS);
    ASSERT_EQ(s->Submit({{b, 0}}, {}, done, gpu.Copy()), VK_SUCCESS);
    ASSERT_EQ(s->WaitFence(done, 5000 * kMs), VK_SUCCESS) << "round " << round;
    EXPECT_EQ(gpu.Dst(), 0xD000 + round);
    vkResetFences(s->dev->device, 1, &done);
  }
  vkDestroyFence(s->dev->device, done, nullptr);
  vkDestroySemaphore(s->dev->device, a, nullptr);
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

TEST_F(SyncQueue, TemporaryBinaryImportEndsWithTheNextWait) {
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(a, kSemNt);
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  ASSERT_EQ(s->ImportSemaphore(b, kSemNt, h, nullptr, VK_SEMAPHORE_IMPORT_TEMPORARY_BIT), VK_SUCCESS);
  close(Fd(h));
  VkFence done = s->Fence(false);
  ASSERT_EQ(s->Submit({}, {{a, 0}}, VK_NULL_HANDLE), VK_SUCCESS);
  ASSERT_EQ(s->Submit({{b, 0}}, {}, done), VK_SUCCESS);  // consumes a's signal and ends the import
  ASSERT_EQ(s->WaitFence(done, 5000 * kMs), VK_SUCCESS);
  vkResetFences(s->dev->device, 1, &done);
  // b has its own payload again: its signal and wait no longer touch a's.
  ASSERT_EQ(s->Submit({}, {{b, 0}}, VK_NULL_HANDLE), VK_SUCCESS);
  ASSERT_EQ(s->Submit({{b, 0}}, {}, done), VK_SUCCESS);
  ASSERT_EQ(s->WaitFence(done, 5000 * kMs), VK_SUCCESS);
  vkResetFences(s->dev->device, 1, &done);
  // a's payload is still a's: its own signal and wait pair up as before.
  ASSERT_EQ(s->Submit({}, {{a, 0}}, VK_NULL_HANDLE), VK_SUCCESS);
  ASSERT_EQ(s->Submit({{a, 0}}, {}, done), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(done, 5000 * kMs), VK_SUCCESS);
  vkDestroyFence(s->dev->device, done, nullptr);
  vkDestroySemaphore(s->dev->device, a, nullptr);
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

TEST_F(SyncQueue, ABoundedNumberOfThreadsForManyPayloads) {
  // The driver's own threads start with the first submission and host wait: counted before.
  VkSemaphore plain = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->Submit({}, {{plain, 1}}, VK_NULL_HANDLE), VK_SUCCESS);
  ASSERT_EQ(s->HostWait(plain, 1, 5000 * kMs), VK_SUCCESS);
  vkDestroySemaphore(s->dev->device, plain, nullptr);
  const int before = CountThreads();
  std::vector<VkSemaphore> sems;
  for (int i = 0; i < 64; ++i) sems.push_back(s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt));
  std::vector<SyncDevice::Op> signals;
  for (VkSemaphore x : sems) signals.push_back({x, 1});
  ASSERT_EQ(s->Submit({}, signals, VK_NULL_HANDLE), VK_SUCCESS);
  for (VkSemaphore x : sems) ASSERT_EQ(s->HostWait(x, 1, 5000 * kMs), VK_SUCCESS);
  EXPECT_LE(CountThreads() - before, 2) << "more than the bridge's two threads for 64 payloads";
  for (VkSemaphore x : sems) vkDestroySemaphore(s->dev->device, x, nullptr);
}

TEST(SyncQueueLifetime, TheBridgeThreadsEndWithTheDevice) {
  const int before = CountThreads();
  {
    SyncDevice s;
    ASSERT_TRUE(s.ok()) << s.error;
    VkSemaphore a = s.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
    ASSERT_EQ(s.Submit({}, {{a, 1}}, VK_NULL_HANDLE), VK_SUCCESS);
    ASSERT_EQ(s.HostWait(a, 1, 5000 * kMs), VK_SUCCESS);
    EXPECT_GT(CountThreads(), before);
    vkDestroySemaphore(s.dev->device, a, nullptr);
  }
  // Threads the driver itself started may linger; the layer's two must be gone.
  EXPECT_LE(CountThreads(), before + 0) << "a bridge thread outlived its device";
}

TEST_F(SyncQueue, DriverObjectsPassThroughUntouched) {
  VkSemaphore plain = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  VkFence f = s->Fence(false);
  ASSERT_EQ(s->Submit({}, {{plain, 3}}, f), VK_SUCCESS);
  EXPECT_EQ(s->HostWait(plain, 3, 5000 * kMs), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(f, 5000 * kMs), VK_SUCCESS);
  vkDestroyFence(s->dev->device, f, nullptr);
  vkDestroySemaphore(s->dev->device, plain, nullptr);
}

}  // namespace
}  // namespace ntbridge::test
