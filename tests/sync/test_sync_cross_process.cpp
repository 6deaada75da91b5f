// Win32 semaphores and fences between real processes (started with exec): host and queue operations in one
// process seen by the other, and a process killed while it holds or waits on a payload.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "sync_support.hpp"

namespace ntbridge::test {
namespace {

constexpr uint64_t kMs = 1000 * 1000;

class SyncCrossProcess : public SyncTest {};

TEST_F(SyncCrossProcess, HostSignalWakesAWaitInAnotherProcess) {
  std::wstring name = UniqueName("xwait");
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            nullptr, 0, name.c_str()};
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt, &win32);
  ASSERT_NE(a, VK_NULL_HANDLE);
  SyncChild child = StartSyncChild({"wait", Narrow(name), "5", "20000"});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(s->HostSignal(a, 5), VK_SUCCESS);
  EXPECT_EQ(child.Wait(), 0);
  vkDestroySemaphore(s->dev->device, a, nullptr);
}

TEST_F(SyncCrossProcess, AnotherProcessReleasesThisQueue) {
  std::wstring name = UniqueName("xqueue");
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            nullptr, 0, name.c_str()};
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt, &win32);
  ASSERT_NE(a, VK_NULL_HANDLE);
  VkFence done = s->Fence(false);
  ASSERT_EQ(s->Submit({{a, 3}}, {}, done), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(done, 50 * kMs), VK_TIMEOUT);
  SyncChild child = StartSyncChild({"signal", Narrow(name), "3"});
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(s->WaitFence(done, 10000 * kMs), VK_SUCCESS);
  vkDestroyFence(s->dev->device, done, nullptr);
  vkDestroySemaphore(s->dev->device, a, nullptr);
}

TEST_F(SyncCrossProcess, AFenceSignalledByAnotherProcessesSubmission) {
  std::wstring name = UniqueName("xfence");
  VkExportFenceWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr,
                                        nullptr, 0, name.c_str()};
  VkFence f = s->Fence(false, kFenceNt, &win32);
  ASSERT_NE(f, VK_NULL_HANDLE);
  SyncChild child = StartSyncChild({"fence", Narrow(name)});
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(s->WaitFence(f, 10000 * kMs), VK_SUCCESS);
  vkDestroyFence(s->dev->device, f, nullptr);
}

TEST_F(SyncCrossProcess, AKilledSignallerIsReportedNotWaitedForForever) {
  if (s->DriverPayload()) {
    GTEST_SKIP()
        << "the driver's own semaphore keeps no record of its holders: a dead signaller is the driver's "
           "to report (an infinite wait there waits, as without ntbridge)";
  }
  std::wstring name = UniqueName("xkill");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  SyncChild child = StartSyncChild({"hold", Narrow(name), std::to_string(ready[1])});
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << "the child did not create the semaphore";
  close(ready[0]);
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(b, kSemNt, nullptr, name.c_str()), VK_SUCCESS);
  kill(child.pid, SIGKILL);
  EXPECT_EQ(child.Wait(), 128 + SIGKILL);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s->HostWait(b, 1, UINT64_MAX), VK_ERROR_DEVICE_LOST);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto problems = s->vk->monitor.Problems();
  ASSERT_EQ(problems.size(), 1u) << Describe(problems);
  EXPECT_NE(problems[0].text.find("shared payload"), std::string::npos) << problems[0].text;
  EXPECT_NE(problems[0].text.find("died"), std::string::npos) << problems[0].text;
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

TEST_F(SyncCrossProcess, AKilledWaiterLeavesThePayloadWorking) {
  std::wstring name = UniqueName("xwaiter");
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            nullptr, 0, name.c_str()};
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt, &win32);
  ASSERT_NE(a, VK_NULL_HANDLE);
  SyncChild child = StartSyncChild({"wait", Narrow(name), "100", "60000"});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(child.pid, SIGKILL);
  EXPECT_EQ(child.Wait(), 128 + SIGKILL);
  ASSERT_EQ(s->HostSignal(a, 2), VK_SUCCESS);
  EXPECT_EQ(s->HostWait(a, 2, 0), VK_SUCCESS);
  SyncChild second = StartSyncChild({"wait", Narrow(name), "2", "20000"});
  EXPECT_EQ(second.Wait(), 0) << "a new process cannot use the payload after a waiter was killed";
  vkDestroySemaphore(s->dev->device, a, nullptr);
}

}  // namespace
}  // namespace ntbridge::test
