// libntbridge with the layer: semaphores and fences exported through VK_KHR_external_semaphore_win32 and
// VK_KHR_external_fence_win32, sent with their metadata to a real process (started with exec) that imports
// and signals them, and KMT values and names turned into NT handles (OpenShareAsNtHandle).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ntbridge/transfer.hpp>
#include <ntbridge/vulkan.hpp>
#include <string>
#include <vector>

#include "sync_support.hpp"

namespace ntbridge {
namespace {

using test::kFenceKmt;
using test::kFenceNt;
using test::kSemKmt;
using test::kSemNt;

constexpr uint64_t kMs = 1000 * 1000;

// The child program with one end of a stream socket pair; the other end stays here.
struct Child {
  pid_t pid = -1;
  int socket = -1;
  ~Child() {
    if (socket >= 0) close(socket);
  }
  int Wait() {
    int status = 0;
    if (pid <= 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

void Start(Child* child, const std::string& mode, const std::string& value = "0") {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  const char* program = std::getenv("NTBRIDGE_SYNC_TRANSFER_CHILD");  // ctest sets it
  const std::string fd = std::to_string(pair[1]);
  std::vector<std::string> args = {program != nullptr ? program : "ntbridge_sync_transfer_child", mode, fd,
                                   value};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  child->pid = fork();
  if (child->pid == 0) {
    fcntl(pair[1], F_SETFD, 0);  // the child's end survives exec
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pair[1]);
  child->socket = pair[0];
  ASSERT_GT(child->pid, 0);
}

class SyncShare : public test::SyncTest {
 protected:
  // Descriptors are counted before the test's device is made and after it is destroyed: what the layer keeps
  // per device (a payload it signalled, until vkDestroyDevice) is not a leak of the library's. A device made
  // and destroyed first lets the driver open what it keeps for the whole process (NVIDIA's does).
  void SetUp() override {
    { test::SyncDevice warm_up; }
    fds_before_ = test::CountOpenFds();
    SyncTest::SetUp();
  }
  void TearDown() override {
    SyncTest::TearDown();
    if (!uses_broker_) {
      EXPECT_EQ(test::CountOpenFds(), fds_before_) << "a descriptor was leaked";
    }
  }
  SyncInfo Info(uint32_t kind, uint32_t handle_type) {
    SyncInfo info{};
    info.kind = kind;
    info.handle_type = handle_type;
    FillDeviceIds(vkGetInstanceProcAddr, s->vk->instance, s->vk->gpu, info);
    return info;
  }
  // KMT values and names need the broker; the layer finds ntbridged beside its library in the build tree.
  // The connections to it (the layer's and the library's) stay open for the process: no leak check then.
  bool BrokerBuilt() {
    uses_broker_ = true;
    return test::BrokerBesideLayer();
  }
  int fds_before_ = 0;
  bool uses_broker_ = false;
};

TEST_F(SyncShare, FillDeviceIdsMatchesThePhysicalDevice) {
  VkPhysicalDeviceIDProperties ids{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  VkPhysicalDeviceProperties2 properties{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &ids};
  vkGetPhysicalDeviceProperties2(s->vk->gpu, &properties);
  const SyncInfo info = Info(NTBRIDGE_SYNC_FENCE, kFenceNt);
  EXPECT_EQ(std::memcmp(info.device_uuid, ids.deviceUUID, VK_UUID_SIZE), 0);
  EXPECT_EQ(std::memcmp(info.driver_uuid, ids.driverUUID, VK_UUID_SIZE), 0);
}

TEST_F(SyncShare, ATimelineSemaphoreSentToAnotherProcessIsSignalledThere) {
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
  NtHandle handle(s->SemaphoreHandle(sem, kSemNt));
  ASSERT_TRUE(handle.valid());
  Child child;
  Start(&child, "semaphore", "7");
  SendSemaphore(child.socket, Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, kSemNt), handle);
  handle.Reset();
  EXPECT_EQ(s->HostWait(sem, 7, 20000 * kMs), VK_SUCCESS) << "the other process's signal never came";
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(s->Counter(sem), 7u);
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

TEST_F(SyncShare, ABinarySemaphoreSignalledHereIsWaitedOnThere) {
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  NtHandle handle(s->SemaphoreHandle(sem, kSemNt));
  ASSERT_TRUE(handle.valid());
  ASSERT_EQ(s->Submit({}, {{sem, 0}}), VK_SUCCESS);
  Child child;
  Start(&child, "semaphore");
  SendSemaphore(child.socket, Info(NTBRIDGE_SYNC_BINARY_SEMAPHORE, kSemNt), handle);
  handle.Reset();
  EXPECT_EQ(child.Wait(), 0) << "the other process's queue did not see this queue's signal (1: timed out)";
  vkQueueWaitIdle(s->dev->queue);
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

TEST_F(SyncShare, AFenceSentToAnotherProcessIsSignalledByItsQueue) {
  VkFence fence = s->Fence(false, kFenceNt);
  NtHandle handle(s->FenceHandle(fence, kFenceNt));
  ASSERT_TRUE(handle.valid());
  Child child;
  Start(&child, "fence");
  SendFence(child.socket, Info(NTBRIDGE_SYNC_FENCE, kFenceNt), handle);
  handle.Reset();
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(s->WaitFence(fence, 20000 * kMs), VK_SUCCESS);
  vkDestroyFence(s->dev->device, fence, nullptr);
}

TEST_F(SyncShare, AnotherProcessExportsAndThisOneSignals) {
  Child child;
  Start(&child, "export", "3");
  ReceivedSync received = ReceiveSemaphore(child.socket);
  EXPECT_EQ(received.info.kind, NTBRIDGE_SYNC_TIMELINE_SEMAPHORE);
  EXPECT_EQ(received.info.handle_type, kSemNt);
  const SyncInfo mine = Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, kSemNt);
  EXPECT_EQ(std::memcmp(received.info.device_uuid, mine.device_uuid, NTBRIDGE_UUID_SIZE), 0);
  ASSERT_TRUE(received.handle.valid());
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(sem, kSemNt, received.handle.get()), VK_SUCCESS);
  received.handle.Reset();
  ASSERT_EQ(s->HostSignal(sem, 3), VK_SUCCESS);
  EXPECT_EQ(child.Wait(), 0) << "the exporting process did not see this process's signal";
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

TEST_F(SyncShare, AFenceOfferedWhereASemaphoreIsExpectedIsRefusedThere) {
  VkFence fence = s->Fence(false, kFenceNt);
  NtHandle handle(s->FenceHandle(fence, kFenceNt));
  Child child;
  Start(&child, "semaphore", "1");
  // Sent as what it is: the receiver, expecting a semaphore, refuses it and says so.
  SendFence(child.socket, Info(NTBRIDGE_SYNC_FENCE, kFenceNt), handle);
  EXPECT_EQ(child.Wait(), 6);
  vkDestroyFence(s->dev->device, fence, nullptr);
}

TEST_F(SyncShare, AKmtValueTravelsAndBecomesAnNtHandleThere) {
  if (!BrokerBuilt()) GTEST_SKIP() << "the broker ntbridged is not built in this tree (KMT values need it)";
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemKmt);
  const HANDLE kmt = s->SemaphoreHandle(sem, kSemKmt);
  SyncInfo info = Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, kSemKmt);
  info.global_share = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(kmt));
  Child child;
  Start(&child, "semaphore", "11");
  SendSemaphore(child.socket, info);
  EXPECT_EQ(s->HostWait(sem, 11, 20000 * kMs), VK_SUCCESS);
  EXPECT_EQ(child.Wait(), 0);
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

TEST_F(SyncShare, ANamedFenceTravelsAndBecomesAnNtHandleThere) {
  if (!BrokerBuilt()) GTEST_SKIP() << "the broker ntbridged is not built in this tree (names need it)";
  const std::wstring name = test::UniqueName("lib-fence");
  VkExportFenceWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr,
                                        nullptr, 0, name.c_str()};
  VkFence fence = s->Fence(false, kFenceNt, &win32);
  SyncInfo info = Info(NTBRIDGE_SYNC_FENCE, kFenceNt);
  SetName(info, name);
  Child child;
  Start(&child, "fence");
  SendFence(child.socket, info);
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(s->WaitFence(fence, 20000 * kMs), VK_SUCCESS);
  vkDestroyFence(s->dev->device, fence, nullptr);
}

// OpenShareAsNtHandle in one process: the handle is of the same payload (a signal through one object is
// seen through an import of the other), and shares of another kind are refused with what they are.
TEST_F(SyncShare, AKmtValueBecomesAnNtHandleOfTheSamePayload) {
  if (!BrokerBuilt()) GTEST_SKIP() << "the broker ntbridged is not built in this tree (KMT values need it)";
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemKmt | kSemNt);
  const HANDLE kmt = s->SemaphoreHandle(sem, kSemKmt);
  SyncInfo info = Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, kSemKmt);
  info.global_share = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(kmt));
  NtHandle handle = OpenShareAsNtHandle(info);
  ASSERT_TRUE(handle.valid());
  VkSemaphore again = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(again, kSemNt, handle.get()), VK_SUCCESS);
  handle.Reset();
  ASSERT_EQ(s->HostSignal(sem, 4), VK_SUCCESS);
  EXPECT_EQ(s->HostWait(again, 4, 5000 * kMs), VK_SUCCESS);
  EXPECT_EQ(s->Counter(again), 4u);
  vkDestroySemaphore(s->dev->device, again, nullptr);
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

TEST_F(SyncShare, SharesOfAnotherKindAreRefusedWithWhatTheyAre) {
  if (!BrokerBuilt()) GTEST_SKIP() << "the broker ntbridged is not built in this tree (KMT values need it)";
  VkSemaphore binary = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemKmt);
  const auto kmt = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(s->SemaphoreHandle(binary, kSemKmt)));
  auto expect_refused = [&](SyncInfo info, const std::string& expected) {
    info.global_share = kmt;
    try {
      (void)OpenShareAsNtHandle(info);
      ADD_FAILURE() << "opened as kind " << info.kind << ": " << expected;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  expect_refused(Info(NTBRIDGE_SYNC_FENCE, kFenceKmt), "is a semaphore, not a fence");
  expect_refused(Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, kSemKmt),
                 "is a binary semaphore, but `info.kind` says timeline");
  SyncInfo nt = Info(NTBRIDGE_SYNC_BINARY_SEMAPHORE, kSemNt);
  EXPECT_THROW(OpenShareAsNtHandle(nt), std::invalid_argument)
      << "an NT info with no name has nothing to open";
  vkDestroySemaphore(s->dev->device, binary, nullptr);
}

TEST_F(SyncShare, AnUnknownNameFailsWithAMessage) {
  (void)BrokerBuilt();  // whether or not a broker answers, the message names the name
  SyncInfo info = Info(NTBRIDGE_SYNC_FENCE, kFenceNt);
  SetName(info, L"Local\\ntbridge-no-such-fence");
  try {
    (void)OpenShareAsNtHandle(info);
    FAIL() << "an unknown name was opened";
  } catch (const std::runtime_error& e) {
    // Either no broker answers or it holds no such name: both say which name.
    EXPECT_NE(std::string(e.what()).find("Local\\ntbridge-no-such-fence"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ntbridge
