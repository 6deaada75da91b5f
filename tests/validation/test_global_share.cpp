// VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663 concerns NT handles only: a global share (KMT) value
// may be fetched again and is the same value. Runs against a private broker, stopped after the test.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "validation_test.hpp"

namespace ntbridge::test {
namespace {

class GlobalShareFetch : public ValidationTest {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ntbv-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root = pattern;
    socket_path = root + "/broker/broker.sock";
    // Read at vkCreateInstance (ValidationTest::SetUp).
    setenv("VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET", socket_path.c_str(), 1);
    ValidationTest::SetUp();
  }
  void TearDown() override {
    ValidationTest::TearDown();
    StopBroker();
    unsetenv("VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET");
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  // The broker the layer started for this test, named by the pid file in its folder.
  void StopBroker() {
    pid_t pid = 0;
    std::ifstream(root + "/broker/broker.pid") >> pid;
    if (pid <= 0 || kill(pid, SIGTERM) != 0) return;
    for (int i = 0; i < 200 && kill(pid, 0) == 0; ++i) usleep(10000);
  }
  std::string root;
  std::string socket_path;
};

TEST_F(GlobalShareFetch, KmtValueMayBeFetchedAgainAndIsTheSame) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt | kKmt);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  VkResult r1 = VK_ERROR_UNKNOWN, r2 = VK_ERROR_UNKNOWN;
  HANDLE first = dev->GetHandle(memory, kKmt, &r1);
  HANDLE second = dev->GetHandle(memory, kKmt, &r2);
  ASSERT_EQ(r1, VK_SUCCESS) << Describe(vk->monitor.Take());
  EXPECT_EQ(r2, VK_SUCCESS);
  EXPECT_NE(first, nullptr);
  EXPECT_EQ(first, second);
  // The NT handle of the same memory is still a first fetch: KMT fetches do not count for 00663.
  HANDLE nt = dev->GetHandle(memory, kNt);
  EXPECT_NE(nt, nullptr);
  close(static_cast<int>(reinterpret_cast<intptr_t>(nt)));
  dev->Free(memory);
  // TearDown: no message at all.
}

}  // namespace
}  // namespace ntbridge::test
