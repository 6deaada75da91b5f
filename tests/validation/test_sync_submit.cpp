// The sync rules that depend on queue submissions, through the real loader, ntbridge over the Khronos
// validation layer: VUID-vkImportFenceWin32HandleKHR-fence-04448 (a fence with a pending submission) and
// VkD3D12FenceSubmitInfoKHR in vkQueueSubmit (00079, 00080, and its pointers).
#include <unistd.h>

#include <string>
#include <vector>

#include "sync_validation_test.hpp"

namespace ntbridge::test {
namespace {

constexpr const char* kImportFence = "vkImportFenceWin32HandleKHR";
constexpr const char* k04448 = "VUID-vkImportFenceWin32HandleKHR-fence-04448";

// ---------------------------------------------------------------------------------------------------------
// VUID-vkImportFenceWin32HandleKHR-fence-04448

class SyncPendingFence : public SyncValidation {
 protected:
  void SetUp() override {
    SyncValidation::SetUp();
    if (HasFatalFailure()) return;
    gate = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
    exporter = s->Fence(false, kFenceNt);
    handle = s->FenceHandle(exporter, kFenceNt);
    ASSERT_GT(Fd(handle), 0);
  }
  void TearDown() override {
    if (s) {
      // Whatever the test did, the submission waiting on the gate can complete.
      if (gate != VK_NULL_HANDLE && s->Counter(gate) < 1) s->HostSignal(gate, 1);
      vkQueueWaitIdle(s->dev->queue);
      if (handle != nullptr) close(Fd(handle));
      vkDestroyFence(device(), exporter, nullptr);
      vkDestroySemaphore(device(), gate, nullptr);
    }
    SyncValidation::TearDown();
  }
  VkImportFenceWin32HandleInfoKHR Info(VkFence fence, VkFenceImportFlags flags = 0) const {
    return {VK_STRUCTURE_TYPE_IMPORT_FENCE_WIN32_HANDLE_INFO_KHR,
            nullptr,
            fence,
            flags,
            kFenceNt,
            handle,
            nullptr};
  }
  // A submission that cannot complete before the host signals the gate: waiting on a timeline value that
  // nothing has signalled yet is legal (wait-before-signal), so the fence stays pending as long as the test
  // needs.
  void SubmitBehindTheGate(VkFence fence) {
    ASSERT_EQ(s->Submit({{gate, 1}}, {}, fence), VK_SUCCESS);
    EXPECT_EQ(vkGetFenceStatus(device(), fence), VK_NOT_READY);
  }
  void ExpectRefused(const VkImportFenceWin32HandleInfoKHR& info, const char* vuid,
                     const std::string& detail) {
    const int fds = CountOpenFds();
    EXPECT_EQ(s->ImportFenceWin32HandleKHR(device(), &info), VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(CountOpenFds(), fds) << "a descriptor leaked";
    ExpectOnly(vuid, kImportFence, detail);
  }
  VkSemaphore gate = VK_NULL_HANDLE;
  VkFence exporter = VK_NULL_HANDLE;
  HANDLE handle = nullptr;
};

TEST_F(SyncPendingFence, ImportIntoAFenceWithAPendingSubmission) {
  VkFence fence = s->Fence();
  SubmitBehindTheGate(fence);
  ExpectRefused(Info(fence), k04448, "is associated with a queue submission that has not completed");
  ExpectRefused(Info(fence, VK_FENCE_IMPORT_TEMPORARY_BIT), k04448, "wait for it (vkWaitForFences)");
  // A broken parameter is reported first, whatever the fence's state.
  ExpectRefused(Info(fence, 0x2u), "VUID-VkImportFenceWin32HandleInfoKHR-flags-parameter", "flags is 0x2");
  // Once the submission completed, the same import is valid.
  ASSERT_EQ(s->HostSignal(gate, 1), VK_SUCCESS);
  ASSERT_EQ(s->WaitFence(fence, 5000 * kMs), VK_SUCCESS);
  auto info = Info(fence);
  EXPECT_EQ(s->ImportFenceWin32HandleKHR(device(), &info), VK_SUCCESS);
  EXPECT_EQ(vkGetFenceStatus(device(), fence), VK_NOT_READY) << "the fence holds the exporter's payload";
  vkDestroyFence(device(), fence, nullptr);
}

TEST_F(SyncPendingFence, ImportIntoAnExportedFenceWithAPendingSubmission) {
  // The fence holds a shared payload of its own (where the driver has no opaque fd fences).
  VkFence fence = s->Fence(false, kFenceNt | kFenceKmt);
  SubmitBehindTheGate(fence);
  ExpectRefused(Info(fence), k04448, "is associated with a queue submission that has not completed");
  ASSERT_EQ(s->HostSignal(gate, 1), VK_SUCCESS);
  ASSERT_EQ(s->WaitFence(fence, 5000 * kMs), VK_SUCCESS);
  vkDestroyFence(device(), fence, nullptr);
}

TEST_F(SyncPendingFence, ImportAfterTheSubmissionCompleted) {
  // The submission completed and the application waited for the fence: importing is valid, whichever
  // payload the fence held.
  for (VkExternalFenceHandleTypeFlags export_types : {0u, uint32_t(kFenceNt)}) {
    SCOPED_TRACE("export types " + std::to_string(export_types));
    VkFence fence = s->Fence(false, export_types);
    ASSERT_EQ(s->Submit({}, {}, fence), VK_SUCCESS);
    ASSERT_EQ(s->WaitFence(fence, 5000 * kMs), VK_SUCCESS);
    auto info = Info(fence);
    EXPECT_EQ(s->ImportFenceWin32HandleKHR(device(), &info), VK_SUCCESS);
    EXPECT_TRUE(s->vk->monitor.Problems().empty()) << Describe(s->vk->monitor.Take());
    vkDestroyFence(device(), fence, nullptr);
  }
}

TEST_F(SyncPendingFence, ImportAfterTheQueueWentIdle) {
  // Completed behind the layer's back (vkQueueWaitIdle, no wait on the fence): still valid.
  for (VkExternalFenceHandleTypeFlags export_types : {0u, uint32_t(kFenceNt)}) {
    SCOPED_TRACE("export types " + std::to_string(export_types));
    VkFence fence = s->Fence(false, export_types);
    ASSERT_EQ(s->Submit({}, {}, fence), VK_SUCCESS);
    ASSERT_EQ(vkQueueWaitIdle(s->dev->queue), VK_SUCCESS);
    // As if the application had waited for the fence of every earlier submission.
    EXPECT_EQ(vkGetFenceStatus(device(), fence), VK_SUCCESS);
    auto info = Info(fence);
    EXPECT_EQ(s->ImportFenceWin32HandleKHR(device(), &info), VK_SUCCESS);
    EXPECT_TRUE(s->vk->monitor.Problems().empty()) << Describe(s->vk->monitor.Take());
    vkDestroyFence(device(), fence, nullptr);
  }
}

TEST_F(SyncPendingFence, ImportAfterAReset) {
  VkFence fence = s->Fence(false, kFenceNt);
  ASSERT_EQ(s->Submit({}, {}, fence), VK_SUCCESS);
  ASSERT_EQ(s->WaitFence(fence, 5000 * kMs), VK_SUCCESS);
  ASSERT_EQ(vkResetFences(device(), 1, &fence), VK_SUCCESS);
  auto info = Info(fence);
  EXPECT_EQ(s->ImportFenceWin32HandleKHR(device(), &info), VK_SUCCESS);
  vkDestroyFence(device(), fence, nullptr);
}

// ---------------------------------------------------------------------------------------------------------
// VkD3D12FenceSubmitInfoKHR in vkQueueSubmit

constexpr const char* k00079 = "VUID-VkD3D12FenceSubmitInfoKHR-waitSemaphoreValuesCount-00079";
constexpr const char* k00080 = "VUID-VkD3D12FenceSubmitInfoKHR-signalSemaphoreValuesCount-00080";

class SyncD3D12FenceSubmitInfo : public SyncValidation {
 protected:
  void SetUp() override {
    SyncValidation::SetUp();
    if (HasFatalFailure()) return;
    // The layer looks into a submission's chain only while the device has a shared payload or a temporary
    // import (submit.cpp's slow path): a temporary import makes sure of it, whatever the payload.
    exporter = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
    HANDLE h = s->SemaphoreHandle(exporter, kSemNt);
    importer = s->Semaphore();
    ASSERT_EQ(s->ImportSemaphore(importer, kSemNt, h, nullptr, VK_SEMAPHORE_IMPORT_TEMPORARY_BIT),
              VK_SUCCESS);
    close(Fd(h));
    fence = s->Fence();
    signalled = s->Semaphore();
  }
  void TearDown() override {
    if (s) {
      vkQueueWaitIdle(s->dev->queue);
      vkDestroyFence(device(), fence, nullptr);
      for (VkSemaphore x : {exporter, importer, signalled}) vkDestroySemaphore(device(), x, nullptr);
    }
    SyncValidation::TearDown();
  }
  // pSubmits[0] is a plain batch, pSubmits[1] carries `d3d12` and signals `signal_count` (0 or 1) semaphores.
  VkResult Submit(const VkD3D12FenceSubmitInfoKHR& d3d12, uint32_t signal_count,
                  VkFence with = VK_NULL_HANDLE) {
    VkSubmitInfo submits[2] = {{VK_STRUCTURE_TYPE_SUBMIT_INFO}, {VK_STRUCTURE_TYPE_SUBMIT_INFO, &d3d12}};
    submits[1].signalSemaphoreCount = signal_count;
    submits[1].pSignalSemaphores = &signalled;
    return vkQueueSubmit(s->dev->queue, 2, submits, with);
  }
  VkSemaphore exporter = VK_NULL_HANDLE;
  VkSemaphore importer = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  VkSemaphore signalled = VK_NULL_HANDLE;
  alignas(uint64_t) uint64_t values[2] = {1, 2};
};

TEST_F(SyncD3D12FenceSubmitInfo, WaitSemaphoreValuesCountDiffers) {
  VkD3D12FenceSubmitInfoKHR d3d12{
      VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 1, values, 0, nullptr};
  EXPECT_EQ(Submit(d3d12, 0, fence), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly(k00079, "vkQueueSubmit",
             "pSubmits[1].pNext<VkD3D12FenceSubmitInfoKHR>.waitSemaphoreValuesCount is 1, but "
             "pSubmits[1].waitSemaphoreCount is 0");
  // Nothing was submitted: the fence is not pending, so importing into it is valid.
  EXPECT_EQ(vkGetFenceStatus(device(), fence), VK_NOT_READY);
  VkFence other = s->Fence(false, kFenceNt);
  HANDLE h = s->FenceHandle(other, kFenceNt);
  EXPECT_EQ(s->ImportFence(fence, kFenceNt, h), VK_SUCCESS);
  close(Fd(h));
  vkDestroyFence(device(), other, nullptr);
}

TEST_F(SyncD3D12FenceSubmitInfo, SignalSemaphoreValuesCountDiffers) {
  VkD3D12FenceSubmitInfoKHR d3d12{
      VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 0, nullptr, 2, values};
  EXPECT_EQ(Submit(d3d12, 1), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly(k00080, "vkQueueSubmit",
             "pSubmits[1].pNext<VkD3D12FenceSubmitInfoKHR>.signalSemaphoreValuesCount is 2, but "
             "pSubmits[1].signalSemaphoreCount is 1");
}

TEST_F(SyncD3D12FenceSubmitInfo, BothCountsDifferBothReported) {
  VkD3D12FenceSubmitInfoKHR d3d12{
      VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 2, values, 1, values};
  EXPECT_EQ(Submit(d3d12, 0), VK_ERROR_VALIDATION_FAILED_EXT);
  auto messages = s->vk->monitor.Take();
  ASSERT_EQ(messages.size(), 2u) << Describe(messages);
  EXPECT_EQ(messages[0].id, k00079);
  EXPECT_EQ(messages[1].id, k00080);
}

TEST_F(SyncD3D12FenceSubmitInfo, SignalSemaphoreValuesNotAligned) {
  const auto* misaligned = reinterpret_cast<const uint64_t*>(reinterpret_cast<uintptr_t>(values) + 1);
  VkD3D12FenceSubmitInfoKHR d3d12{
      VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 0, nullptr, 1, misaligned};
  EXPECT_EQ(Submit(d3d12, 1), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-VkD3D12FenceSubmitInfoKHR-pSignalSemaphoreValues-parameter", "vkQueueSubmit",
             "pSignalSemaphoreValues is 0x");
}

TEST_F(SyncD3D12FenceSubmitInfo, WaitSemaphoreValuesNotAligned) {
  // A batch that waits on a semaphore an earlier batch signals.
  const auto* misaligned = reinterpret_cast<const uint64_t*>(reinterpret_cast<uintptr_t>(values) + 4);
  VkD3D12FenceSubmitInfoKHR d3d12{
      VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 1, misaligned, 0, nullptr};
  const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  VkSubmitInfo submits[2] = {{VK_STRUCTURE_TYPE_SUBMIT_INFO}, {VK_STRUCTURE_TYPE_SUBMIT_INFO, &d3d12}};
  submits[0].signalSemaphoreCount = 1;
  submits[0].pSignalSemaphores = &signalled;
  submits[1].waitSemaphoreCount = 1;
  submits[1].pWaitSemaphores = &signalled;
  submits[1].pWaitDstStageMask = &stage;
  EXPECT_EQ(vkQueueSubmit(s->dev->queue, 2, submits, VK_NULL_HANDLE), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-VkD3D12FenceSubmitInfoKHR-pWaitSemaphoreValues-parameter", "vkQueueSubmit",
             "which is not aligned for uint64_t values");
}

TEST_F(SyncD3D12FenceSubmitInfo, MatchingCountsAreValid) {
  // The structure is valid (its values would apply to D3D12_FENCE semaphores only): the layer removes it,
  // and neither the Khronos layer nor the driver sees it.
  VkD3D12FenceSubmitInfoKHR d3d12{
      VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 0, nullptr, 1, values};
  EXPECT_EQ(Submit(d3d12, 1, fence), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(fence, 5000 * kMs), VK_SUCCESS);
}

// The same rules while the device has no shared payload and no temporary import: vkQueueSubmit then takes
// submit.cpp's fast path.
using SyncD3D12FenceSubmitInfoFastPath = SyncValidation;

TEST_F(SyncD3D12FenceSubmitInfoFastPath, WaitSemaphoreValuesCountDiffers) {
  alignas(uint64_t) uint64_t values[1] = {1};
  VkD3D12FenceSubmitInfoKHR d3d12{
      VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 1, values, 0, nullptr};
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO, &d3d12};
  EXPECT_EQ(vkQueueSubmit(s->dev->queue, 1, &submit, VK_NULL_HANDLE), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly(k00079, "vkQueueSubmit",
             "waitSemaphoreValuesCount is 1, but pSubmits[0].waitSemaphoreCount is 0");
  vkQueueWaitIdle(s->dev->queue);
}

TEST_F(SyncD3D12FenceSubmitInfoFastPath, MatchingCountsAreValid) {
  VkD3D12FenceSubmitInfoKHR d3d12{VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR};
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO, &d3d12};
  EXPECT_EQ(vkQueueSubmit(s->dev->queue, 1, &submit, VK_NULL_HANDLE), VK_SUCCESS);
  vkQueueWaitIdle(s->dev->queue);
}

}  // namespace
}  // namespace ntbridge::test
