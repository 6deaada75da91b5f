// The WSI acquire/present pair with Win32 semaphores and fences (issue 11), presenting for real to an X
// server of the test's own (Xvfb) through VK_KHR_xcb_surface, with the Khronos validation layer below
// ntbridge (the fixture fails on any message). What each test presents is read back from the X server.
//
// Temporary imports end as the spec says: a binary semaphore's "after submitting the next semaphore wait
// operation" (a submission's wait, or vkQueuePresentKHR's), never with the acquire's signal; a fence's "the
// next time that fence is passed to vkResetFences" (restored first, then reset), never with the acquire's
// signal or a wait.
//
// Each test runs twice: acquiring with vkAcquireNextImageKHR and with vkAcquireNextImage2KHR.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "wsi_support.hpp"

namespace ntbridge::test {
namespace {

constexpr uint64_t kMs = 1000 * 1000;
constexpr uint32_t kColours[] = {0xFF0000, 0x00FF00, 0x0000FF, 0xFFFF00};

bool Done(VkResult r) { return r == VK_SUCCESS || r == VK_SUBOPTIMAL_KHR; }

class SyncWsi : public SyncTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    x_ = std::make_unique<Xvfb>();
    if (!x_->installed) {
      GTEST_SKIP() << "Xvfb is not installed (apt-get install xvfb; scripts/setup.sh installs it): the WSI "
                      "tests present to an X server of their own";
    }
    if (std::string why; !XcbLoaded(&why)) {
      GTEST_SKIP() << "libxcb is not installed (" << why
                   << "): the WSI tests present through VK_KHR_xcb_surface";
    }
    ASSERT_TRUE(x_->ok()) << x_->error;
    s = std::make_unique<SyncDevice>(WsiDeviceOptions());
    ASSERT_TRUE(s->ok()) << s->error;
    w = std::make_unique<WsiWindow>(*s, x_->display);
    if (!w->ok() && !s->Lavapipe()) {
      // Xvfb renders in software: a hardware driver (NVIDIA's) presents only to its own X server.
      GTEST_SKIP() << "this physical device cannot present to Xvfb (" << w->error
                   << "); the WSI tests run on lavapipe";
    }
    ASSERT_TRUE(w->ok()) << w->error;
  }
  void TearDown() override {
    if (s && s->ok()) {
      vkDeviceWaitIdle(s->dev->device);
      for (VkSemaphore x : semaphores_) vkDestroySemaphore(s->dev->device, x, nullptr);
      for (VkFence f : fences_) vkDestroyFence(s->dev->device, f, nullptr);
    }
    for (auto& [object, h] : handles_) close(Fd(h));
    w.reset();
    if (other_) {
      auto problems = other_->vk->monitor.Problems();
      EXPECT_TRUE(problems.empty()) << "the other device's messages:" << Describe(problems);
      other_.reset();
    }
    SyncTest::TearDown();
    x_.reset();
  }

  // Binary semaphores and fences, destroyed by TearDown.
  VkSemaphore Semaphore(VkExternalSemaphoreHandleTypeFlags export_types = 0,
                        const VkExportSemaphoreWin32HandleInfoKHR* win32 = nullptr) {
    semaphores_.push_back(s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, export_types, win32));
    return semaphores_.back();
  }
  VkFence Fence(VkExternalFenceHandleTypeFlags export_types = 0) {
    fences_.push_back(s->Fence(false, export_types));
    return fences_.back();
  }
  // The NT handle of an exportable object, fetched once (a second fetch is a violation), closed by TearDown.
  HANDLE Handle(VkSemaphore exporter) {
    auto key = reinterpret_cast<uint64_t>(exporter);
    if (!handles_.count(key)) handles_[key] = s->SemaphoreHandle(exporter, kSemNt);
    return handles_[key];
  }
  HANDLE Handle(VkFence exporter) {
    auto key = reinterpret_cast<uint64_t>(exporter);
    if (!handles_.count(key)) handles_[key] = s->FenceHandle(exporter, kFenceNt);
    return handles_[key];
  }
  // Imports `exporter`'s NT handle into a new object (permanently unless `flags` say temporary).
  VkSemaphore ImportedSemaphore(VkSemaphore exporter, VkSemaphoreImportFlags flags = 0) {
    VkSemaphore importer = Semaphore();
    EXPECT_EQ(s->ImportSemaphore(importer, kSemNt, Handle(exporter), nullptr, flags), VK_SUCCESS);
    return importer;
  }
  VkFence ImportedFence(VkFence exporter, VkFenceImportFlags flags = 0) {
    VkFence importer = Fence();
    EXPECT_EQ(s->ImportFence(importer, kFenceNt, Handle(exporter), nullptr, flags), VK_SUCCESS);
    return importer;
  }

  // A second device of this process, with a queue of its own. A wait there that never ends (a layer bug)
  // blocks that queue, not this one, from which a signal can still end it; and the other way round.
  SyncDevice& Other() {
    if (!other_) other_ = std::make_unique<SyncDevice>();
    EXPECT_TRUE(other_->ok()) << other_->error;
    return *other_;
  }
  // Imports the payload of `exporter` into a semaphore of Other(), destroyed with it.
  VkSemaphore OtherImport(VkSemaphore exporter) {
    VkSemaphore imported = Other().Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
    EXPECT_EQ(other_->ImportSemaphore(imported, kSemNt, Handle(exporter)), VK_SUCCESS);
    return imported;
  }
  // Whether the binary payload of `exporter` holds a signal: a wait on it on Other()'s queue ends within 5 s
  // (taking the signal). If it does not, this queue signals `exporter` to end it.
  bool OtherWaitEnds(VkSemaphore exporter) {
    SyncDevice& o = Other();
    VkSemaphore imported = OtherImport(exporter);
    VkFence f = o.Fence(false);
    EXPECT_EQ(o.Submit({{imported}}, {}, f), VK_SUCCESS);
    const bool ended = o.WaitFence(f, 5000 * kMs) == VK_SUCCESS;
    if (!ended) {
      EXPECT_EQ(s->Submit({}, {{exporter}}), VK_SUCCESS);
      EXPECT_EQ(o.WaitFence(f, 5000 * kMs), VK_SUCCESS);
    }
    vkDestroyFence(o.dev->device, f, nullptr);
    vkDestroySemaphore(o.dev->device, imported, nullptr);
    return ended;
  }
  // Signals the payload of `exporter` from Other()'s queue: ends a wait of this queue that never would.
  void OtherSignals(VkSemaphore exporter) {
    SyncDevice& o = Other();
    VkSemaphore imported = OtherImport(exporter);
    EXPECT_EQ(o.Submit({}, {{imported}}), VK_SUCCESS);
    vkQueueWaitIdle(o.dev->queue);
    vkDestroySemaphore(o.dev->device, imported, nullptr);
  }

  VkResult Acquire(VkSemaphore semaphore, VkFence fence, uint32_t* index) {
    return w->Acquire(GetParam(), semaphore, fence, index);
  }
  VkResult FenceStatus(VkFence f) { return vkGetFenceStatus(s->dev->device, f); }
  VkResult Reset(VkFence f) { return vkResetFences(s->dev->device, 1, &f); }

  std::unique_ptr<WsiWindow> w;

 private:
  std::unique_ptr<Xvfb> x_;
  std::vector<VkSemaphore> semaphores_;
  std::vector<VkFence> fences_;
  std::map<uint64_t, HANDLE> handles_;
  std::unique_ptr<SyncDevice> other_;
};

TEST_P(SyncWsi, AcquireSignalsAnExportableSemaphoreAndFenceSeenThroughTheirImporters) {
  VkSemaphore acquired = Semaphore(kSemNt);
  VkSemaphore acquired_importer = ImportedSemaphore(acquired);
  VkFence fence = Fence(kFenceNt);
  VkFence fence_importer = ImportedFence(fence);
  VkSemaphore rendered = Semaphore(kSemNt);
  VkFence done = Fence();
  for (uint32_t frame = 0; frame < 3; ++frame) {
    uint32_t index = 0;
    ASSERT_TRUE(Done(Acquire(acquired, fence, &index)));
    EXPECT_EQ(s->WaitFence(fence_importer, 5000 * kMs), VK_SUCCESS)
        << "the acquire's fence signal did not reach the payload the fence's importer shares";
    // The clear waits on the acquisition through the semaphore's importer; the present waits on the clear's
    // signal of an exportable semaphore.
    ASSERT_EQ(s->Submit({{acquired_importer}}, {{rendered}}, done, {w->Clear(index, kColours[frame])}),
              VK_SUCCESS);
    if (s->WaitFence(done, 5000 * kMs) != VK_SUCCESS) {
      OtherSignals(acquired);  // lets the stuck wait end
      FAIL() << "the acquire's semaphore signal did not reach the payload the semaphore's importer shares";
    }
    ASSERT_EQ(Reset(done), VK_SUCCESS);
    ASSERT_TRUE(Done(w->Present(index, {rendered})));
    EXPECT_EQ(w->AwaitPixel(kColours[frame]), kColours[frame]) << "frame " << frame;
    ASSERT_EQ(Reset(fence), VK_SUCCESS);
    EXPECT_EQ(FenceStatus(fence_importer), VK_NOT_READY) << "the reset did not reach the importer";
  }
}

TEST_P(SyncWsi, PresentWaitsForAnotherDevicesSignalOfAnExportedSemaphore) {
  // Another device (a queue of its own) signals the semaphore the present waits on, after work that takes a
  // while and writes a marker last: whatever is shown must have waited for the marker.
  SyncDevice& other = Other();
  ASSERT_TRUE(other.ok());
  VkDevice od = other.dev->device;
  VkBuffer buffers[2] = {};
  VkDeviceMemory memory[2] = {};
  const VkDeviceSize sizes[2] = {32u << 20, 256};
  for (int i = 0; i < 2; ++i) {
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = sizes[i];
    bi.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    ASSERT_EQ(vkCreateBuffer(od, &bi, nullptr, &buffers[i]), VK_SUCCESS);
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(od, buffers[i], &req);
    ASSERT_EQ(other.dev->Allocate(req.size, other.dev->HostVisibleType(), nullptr, &memory[i]), VK_SUCCESS);
    vkBindBufferMemory(od, buffers[i], memory[i], 0);
  }
  constexpr uint32_t kMarker = 0xABCD1234;
  VkSemaphore rendered = Semaphore(kSemNt);
  VkSemaphore other_rendered = OtherImport(rendered);
  {
    CommandRecorder recorder(*other.dev);
    VkCommandBuffer slow = recorder.Record([&](VkCommandBuffer c) {
      VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                              VK_ACCESS_TRANSFER_WRITE_BIT};
      for (uint32_t i = 0; i < 8; ++i) {
        vkCmdFillBuffer(c, buffers[0], 0, VK_WHOLE_SIZE, i);
        vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                             &barrier, 0, nullptr, 0, nullptr);
      }
      vkCmdFillBuffer(c, buffers[1], 0, 4, kMarker);
      barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
      vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0,
                           nullptr, 0, nullptr);
    });
    VkSemaphore acquired = Semaphore();
    VkFence done = Fence();
    for (uint32_t frame = 0; frame < 2; ++frame) {
      other.dev->WriteU32(memory[1], 0);
      uint32_t index = 0;
      ASSERT_TRUE(Done(Acquire(acquired, VK_NULL_HANDLE, &index)));
      ASSERT_EQ(s->Submit({{acquired}}, {}, done, {w->Clear(index, kColours[frame])}), VK_SUCCESS);
      ASSERT_EQ(s->WaitFence(done, 5000 * kMs), VK_SUCCESS);  // the image is ready: only the semaphore holds
      ASSERT_EQ(Reset(done), VK_SUCCESS);
      ASSERT_EQ(other.Submit({}, {{other_rendered}}, VK_NULL_HANDLE, {slow}), VK_SUCCESS);
      std::atomic<VkResult> presented{VK_NOT_READY};
      std::thread presenter([&] { presented = w->Present(index, {rendered}); });
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      uint32_t pixel = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        pixel = w->Pixel();  // before the marker: shown means presented, so the marker must be there by now
        if (pixel == kColours[frame]) {
          EXPECT_EQ(other.dev->ReadU32(memory[1]), kMarker)
              << "frame " << frame << " was shown before the other device signalled the present's semaphore";
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      presenter.join();
      EXPECT_TRUE(Done(presented.load()));
      EXPECT_EQ(pixel, kColours[frame]) << "frame " << frame << " was never shown";
      vkQueueWaitIdle(other.dev->queue);
    }
  }
  for (int i = 0; i < 2; ++i) {
    vkDestroyBuffer(od, buffers[i], nullptr);
    other.dev->Free(memory[i]);
  }
}

TEST_P(SyncWsi, TemporarySemaphoreImportSignalledByAcquireEndsWithTheNextWait) {
  VkSemaphore x = Semaphore(kSemNt);
  VkSemaphore a = ImportedSemaphore(x, VK_SEMAPHORE_IMPORT_TEMPORARY_BIT);
  VkSemaphore rendered = Semaphore();
  VkFence done = Fence();
  // The acquire signals x's payload through a (a signal does not end the import); the clear's wait on a
  // takes that signal and ends the import.
  uint32_t index = 0;
  ASSERT_TRUE(Done(Acquire(a, VK_NULL_HANDLE, &index)));
  ASSERT_EQ(s->Submit({{a}}, {{rendered}}, done, {w->Clear(index, kColours[0])}), VK_SUCCESS);
  if (s->WaitFence(done, 5000 * kMs) != VK_SUCCESS) {
    OtherSignals(x);
    FAIL() << "the acquire did not signal the payload temporarily imported into its semaphore";
  }
  ASSERT_TRUE(Done(w->Present(index, {rendered})));
  EXPECT_EQ(w->AwaitPixel(kColours[0]), kColours[0]);
  // x's payload gets one signal, complete before the next acquire. Had a still held that payload, the
  // acquire's signal would join it there and the clear's wait on a would take the one signal they make.
  ASSERT_EQ(s->Submit({}, {{x}}), VK_SUCCESS);
  ASSERT_EQ(vkQueueWaitIdle(s->dev->queue), VK_SUCCESS);
  ASSERT_TRUE(Done(Acquire(a, VK_NULL_HANDLE, &index)));
  ASSERT_EQ(s->Submit({{a}}, {{rendered}}, VK_NULL_HANDLE, {w->Clear(index, kColours[1])}), VK_SUCCESS);
  ASSERT_TRUE(Done(w->Present(index, {rendered})));
  EXPECT_EQ(w->AwaitPixel(kColours[1]), kColours[1]);
  EXPECT_TRUE(OtherWaitEnds(x))
      << "x's signal was taken: the temporary import outlived the wait that ends it";
}

TEST_P(SyncWsi, TemporarySemaphoreImportWaitedOnByPresentEnds) {
  VkSemaphore y = Semaphore(kSemNt);
  VkSemaphore r = ImportedSemaphore(y, VK_SEMAPHORE_IMPORT_TEMPORARY_BIT);
  VkSemaphore acquired = Semaphore();
  // The clear signals y's payload through r; the present's wait on r takes it and ends the import.
  uint32_t index = 0;
  ASSERT_TRUE(Done(Acquire(acquired, VK_NULL_HANDLE, &index)));
  ASSERT_EQ(s->Submit({{acquired}}, {{r}}, VK_NULL_HANDLE, {w->Clear(index, kColours[0])}), VK_SUCCESS);
  ASSERT_TRUE(Done(w->Present(index, {r})));
  EXPECT_EQ(w->AwaitPixel(kColours[0]), kColours[0]);
  // y's payload gets one signal; the next frame's signal of r and present on r must leave it alone.
  ASSERT_EQ(s->Submit({}, {{y}}), VK_SUCCESS);
  ASSERT_TRUE(Done(Acquire(acquired, VK_NULL_HANDLE, &index)));
  ASSERT_EQ(s->Submit({{acquired}}, {{r}}, VK_NULL_HANDLE, {w->Clear(index, kColours[1])}), VK_SUCCESS);
  // Both signals complete (and published, were r's shared) before the present waits: had r still held y's
  // payload, the present would take the one signal they make there.
  ASSERT_EQ(vkQueueWaitIdle(s->dev->queue), VK_SUCCESS);
  ASSERT_TRUE(Done(w->Present(index, {r})));
  EXPECT_EQ(w->AwaitPixel(kColours[1]), kColours[1]);
  EXPECT_TRUE(OtherWaitEnds(y))
      << "the second present took y's signal: the import outlived the present's wait";
}

TEST_P(SyncWsi, TemporaryFenceImportSignalledByAcquireEndsWithTheNextReset) {
  VkFence z = Fence(kFenceNt);
  VkFence g = ImportedFence(z, VK_FENCE_IMPORT_TEMPORARY_BIT);
  VkSemaphore acquired = Semaphore();
  VkSemaphore rendered = Semaphore();
  uint32_t index = 0;
  ASSERT_TRUE(Done(Acquire(acquired, g, &index)));
  ASSERT_EQ(s->WaitFence(g, 5000 * kMs), VK_SUCCESS);
  EXPECT_EQ(FenceStatus(z), VK_SUCCESS) << "the acquire did not signal the payload imported into its fence";
  // Neither the acquire's signal nor the wait ended the import: a reset of z shows through g.
  ASSERT_EQ(Reset(z), VK_SUCCESS);
  EXPECT_EQ(FenceStatus(g), VK_NOT_READY) << "the import ended before vkResetFences(g)";
  ASSERT_EQ(s->Submit({{acquired}}, {{rendered}}, VK_NULL_HANDLE, {w->Clear(index, kColours[0])}),
            VK_SUCCESS);
  ASSERT_TRUE(Done(w->Present(index, {rendered})));
  EXPECT_EQ(w->AwaitPixel(kColours[0]), kColours[0]);
  // A submission signals z's payload; g still shows it.
  ASSERT_EQ(s->Submit({}, {}, z), VK_SUCCESS);
  ASSERT_EQ(s->WaitFence(z, 5000 * kMs), VK_SUCCESS);
  EXPECT_EQ(FenceStatus(g), VK_SUCCESS);
  // vkResetFences(g) restores g's own payload first and resets that: z's payload stays signalled.
  ASSERT_EQ(Reset(g), VK_SUCCESS);
  EXPECT_EQ(FenceStatus(z), VK_SUCCESS) << "the reset of g reached the temporarily imported payload";
  EXPECT_EQ(FenceStatus(g), VK_NOT_READY);
  ASSERT_EQ(Reset(z), VK_SUCCESS);
  // g has its own payload again: the next acquire signals it alone.
  ASSERT_TRUE(Done(Acquire(acquired, g, &index)));
  ASSERT_EQ(s->WaitFence(g, 5000 * kMs), VK_SUCCESS);
  EXPECT_EQ(FenceStatus(z), VK_NOT_READY) << "the acquire signalled the payload of an import that had ended";
  ASSERT_EQ(s->Submit({{acquired}}, {{rendered}}, VK_NULL_HANDLE, {w->Clear(index, kColours[1])}),
            VK_SUCCESS);
  ASSERT_TRUE(Done(w->Present(index, {rendered})));
  EXPECT_EQ(w->AwaitPixel(kColours[1]), kColours[1]);
}

TEST_P(SyncWsi, AnotherProcessWaitsOnTheAcquiresSemaphoreAndFence) {
  // A compositor's split: this process acquires, another (started with exec) opens the acquire's semaphore
  // by name and its fence by KMT value, and waits on both.
  const std::wstring name = UniqueName("wsi");
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            nullptr, 0, name.c_str()};
  VkSemaphore acquired = Semaphore(kSemNt, &win32);
  VkFence fence = Fence(kFenceNt | kFenceKmt);
  HANDLE kmt = s->FenceHandle(fence, kFenceKmt);
  VkSemaphore rendered = Semaphore();
  VkFence done = Fence();
  uint32_t index = 0;
  ASSERT_TRUE(Done(Acquire(acquired, fence, &index)));
  SyncChild child =
      StartSyncChild({"acquired", Narrow(name), std::to_string(reinterpret_cast<uintptr_t>(kmt)), "10000"});
  ASSERT_EQ(child.Wait(), 0) << "the other process did not see the acquire's fence and semaphore signalled "
                                "(1: timed out, 2: import failed, 6: a validation message there)";
  ASSERT_EQ(s->WaitFence(fence, 5000 * kMs), VK_SUCCESS);
  ASSERT_EQ(s->Submit({}, {{rendered}}, VK_NULL_HANDLE, {w->Clear(index, kColours[0])}), VK_SUCCESS);
  ASSERT_TRUE(Done(w->Present(index, {rendered})));
  EXPECT_EQ(w->AwaitPixel(kColours[0]), kColours[0]);
  // The other process's wait took the semaphore's signal: it is unsignalled, fit for the next acquire.
  ASSERT_EQ(Reset(fence), VK_SUCCESS);
  ASSERT_TRUE(Done(Acquire(acquired, fence, &index)));
  ASSERT_EQ(s->Submit({{acquired}}, {{rendered}}, done, {w->Clear(index, kColours[1])}), VK_SUCCESS);
  ASSERT_EQ(s->WaitFence(done, 5000 * kMs), VK_SUCCESS);
  ASSERT_TRUE(Done(w->Present(index, {rendered})));
  EXPECT_EQ(w->AwaitPixel(kColours[1]), kColours[1]);
}

INSTANTIATE_TEST_SUITE_P(, SyncWsi, ::testing::Bool(), [](const ::testing::TestParamInfo<bool>& p) {
  return p.param ? "AcquireNextImage2KHR" : "AcquireNextImageKHR";
});

}  // namespace
}  // namespace ntbridge::test
