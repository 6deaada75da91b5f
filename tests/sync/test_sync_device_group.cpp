// Win32 semaphores and fences on a device created as a device group (VkDeviceGroupDeviceCreateInfo; lavapipe
// and most drivers form groups of one physical device). Submissions carry VkDeviceGroupSubmitInfo,
// VkSemaphoreSubmitInfo::deviceIndex or VkDeviceGroupBindSparseInfo; where the layer rewrites a batch or adds
// the signal-only batch that stands in for a shared fence, what reaches the validation layer and the driver
// must still be a well-formed device-group submission (the fixture fails on any validation message), and the
// semaphores and fences must still order the work.
#include <unistd.h>

#include "sync_support.hpp"

namespace ntbridge::test {
namespace {

constexpr uint64_t kMs = 1000 * 1000;

class SyncDeviceGroup : public SyncTest {
 protected:
  void SetUp() override {
    s = std::make_unique<SyncDevice>(SyncDeviceOptions{.device_group = true, .synchronization2 = true});
    ASSERT_TRUE(s->ok()) << s->error;
    ASSERT_GE(s->group_size, 1u);
    all_devices_ = (1u << s->group_size) - 1;
    last_index_ = s->group_size - 1;
    recorder_ = std::make_unique<CommandRecorder>(*s->dev);
  }
  void TearDown() override {
    recorder_.reset();
    SyncTest::TearDown();
  }
  // A command buffer for the device mask of the group, recorded with nothing in it but a barrier.
  VkCommandBuffer Work() {
    return recorder_->Record([](VkCommandBuffer c) {
      VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                              VK_ACCESS_MEMORY_READ_BIT};
      vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1,
                           &barrier, 0, nullptr, 0, nullptr);
    });
  }
  uint32_t all_devices_ = 1;
  uint32_t last_index_ = 0;
  std::unique_ptr<CommandRecorder> recorder_;
};

// Every object of the test: the exporters (shared payloads on lavapipe, the driver's on NVIDIA) and
// importers of their NT handles.
struct Objects {
  explicit Objects(SyncDevice& s) : s_(s) {
    a = s.Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
    a_imported = s.Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
    HANDLE h = s.SemaphoreHandle(a, kSemNt);
    EXPECT_EQ(s.ImportSemaphore(a_imported, kSemNt, h), VK_SUCCESS);
    close(Fd(h));
    gate = s.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
    fence = s.Fence(false, kFenceNt);
    fence_imported = s.Fence(false);
    h = s.FenceHandle(fence, kFenceNt);
    EXPECT_EQ(s.ImportFence(fence_imported, kFenceNt, h), VK_SUCCESS);
    close(Fd(h));
  }
  ~Objects() {
    vkDeviceWaitIdle(s_.dev->device);
    for (VkSemaphore x : {a, a_imported, gate}) vkDestroySemaphore(s_.dev->device, x, nullptr);
    for (VkFence x : {fence, fence_imported}) vkDestroyFence(s_.dev->device, x, nullptr);
  }
  SyncDevice& s_;
  VkSemaphore a, a_imported, gate;
  VkFence fence, fence_imported;
};

// The work after the host's signal of `gate`, and the fence of the whole submission, complete only after it.
void ExpectFenceFollowsGate(SyncDevice& s, const Objects& o) {
  EXPECT_EQ(s.WaitFence(o.fence, 100 * kMs), VK_TIMEOUT) << "the fence signalled before the gate opened";
  ASSERT_EQ(s.HostSignal(o.gate, 1), VK_SUCCESS);
  EXPECT_EQ(s.WaitFence(o.fence, 5000 * kMs), VK_SUCCESS);
  EXPECT_EQ(s.WaitFence(o.fence_imported, 5000 * kMs), VK_SUCCESS) << "the fence's importer";
  EXPECT_EQ(vkGetFenceStatus(s.dev->device, o.fence_imported), VK_SUCCESS);
}

TEST_F(SyncDeviceGroup, QueueSubmitWithDeviceGroupSubmitInfo) {
  Objects o(*s);
  // Batch 0 signals `a`; batch 1 waits on its importer and on the gate; the fence (a stand-in batch where
  // it is a shared payload) follows both.
  VkCommandBuffer work[2] = {Work(), Work()};
  const uint32_t masks[2] = {all_devices_, all_devices_};
  const uint32_t signal_index[1] = {last_index_};
  const uint32_t wait_indices[2] = {0, last_index_};
  VkDeviceGroupSubmitInfo group0{VK_STRUCTURE_TYPE_DEVICE_GROUP_SUBMIT_INFO};
  group0.commandBufferCount = 1;
  group0.pCommandBufferDeviceMasks = &masks[0];
  group0.signalSemaphoreCount = 1;
  group0.pSignalSemaphoreDeviceIndices = signal_index;
  VkDeviceGroupSubmitInfo group1{VK_STRUCTURE_TYPE_DEVICE_GROUP_SUBMIT_INFO};
  group1.waitSemaphoreCount = 2;
  group1.pWaitSemaphoreDeviceIndices = wait_indices;
  group1.commandBufferCount = 1;
  group1.pCommandBufferDeviceMasks = &masks[1];
  const uint64_t wait_values[2] = {0, 1};
  VkTimelineSemaphoreSubmitInfo timeline1{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO, &group1, 2,
                                          wait_values};
  const VkSemaphore waits[2] = {o.a_imported, o.gate};
  const VkPipelineStageFlags stages[2] = {VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                                          VK_PIPELINE_STAGE_ALL_COMMANDS_BIT};
  VkSubmitInfo batches[2] = {{VK_STRUCTURE_TYPE_SUBMIT_INFO, &group0},
                             {VK_STRUCTURE_TYPE_SUBMIT_INFO, &timeline1}};
  batches[0].commandBufferCount = 1;
  batches[0].pCommandBuffers = &work[0];
  batches[0].signalSemaphoreCount = 1;
  batches[0].pSignalSemaphores = &o.a;
  batches[1].waitSemaphoreCount = 2;
  batches[1].pWaitSemaphores = waits;
  batches[1].pWaitDstStageMask = stages;
  batches[1].commandBufferCount = 1;
  batches[1].pCommandBuffers = &work[1];
  ASSERT_EQ(vkQueueSubmit(s->dev->queue, 2, batches, o.fence), VK_SUCCESS);
  ExpectFenceFollowsGate(*s, o);
}

TEST_F(SyncDeviceGroup, QueueSubmitWithoutBatchesSignalsAFence) {
  // No batch of the application's, only the fence: the layer's batch is the whole submission.
  Objects o(*s);
  ASSERT_EQ(vkQueueSubmit(s->dev->queue, 0, nullptr, o.fence), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(o.fence_imported, 5000 * kMs), VK_SUCCESS);
}

TEST_F(SyncDeviceGroup, QueueSubmit2WithDeviceIndices) {
  if (vkGetDeviceProcAddr(s->dev->device, "vkQueueSubmit2KHR") == nullptr) {
    GTEST_SKIP() << "the device has no vkQueueSubmit2 (Vulkan 1.3 or VK_KHR_synchronization2)";
  }
  Objects o(*s);
  ASSERT_EQ(s->Submit2({}, {{o.a, 0, last_index_}}, VK_NULL_HANDLE, {Work()}, all_devices_), VK_SUCCESS);
  ASSERT_EQ(s->Submit2({{o.a_imported, 0, last_index_}, {o.gate, 1, 0}}, {}, o.fence, {Work()}, all_devices_),
            VK_SUCCESS);
  ExpectFenceFollowsGate(*s, o);
}

TEST_F(SyncDeviceGroup, QueueBindSparseWithDeviceGroupBindSparseInfo) {
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(s->vk->gpu, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(s->vk->gpu, &count, families.data());
  if (count == 0 || (families[0].queueFlags & VK_QUEUE_SPARSE_BINDING_BIT) == 0) {
    GTEST_SKIP() << "the test's queue family (0) has no sparse binding (lavapipe of Mesa 22.3 has none): "
                    "vkQueueBindSparse cannot be called";
  }
  Objects o(*s);
  VkDeviceGroupBindSparseInfo group{VK_STRUCTURE_TYPE_DEVICE_GROUP_BIND_SPARSE_INFO, nullptr, last_index_,
                                    last_index_};
  VkBindSparseInfo signal{VK_STRUCTURE_TYPE_BIND_SPARSE_INFO, &group};
  signal.signalSemaphoreCount = 1;
  signal.pSignalSemaphores = &o.a;
  ASSERT_EQ(vkQueueBindSparse(s->dev->queue, 1, &signal, VK_NULL_HANDLE), VK_SUCCESS);
  const VkSemaphore waits[2] = {o.a_imported, o.gate};
  const uint64_t wait_values[2] = {0, 1};
  VkTimelineSemaphoreSubmitInfo timeline{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO, &group, 2,
                                         wait_values};
  VkBindSparseInfo wait{VK_STRUCTURE_TYPE_BIND_SPARSE_INFO, &timeline};
  wait.waitSemaphoreCount = 2;
  wait.pWaitSemaphores = waits;
  ASSERT_EQ(vkQueueBindSparse(s->dev->queue, 1, &wait, o.fence), VK_SUCCESS);
  ExpectFenceFollowsGate(*s, o);
}

}  // namespace
}  // namespace ntbridge::test
