// When the broker cannot be started (its runtime folder cannot be made), KMT and named exports fail with a
// clear message, and NT handles keep working.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 64 * 1024;
constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
constexpr auto kKmt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

class BrokerUnavailable : public LayerTest {
 protected:
  void SetUp() override {
    // A runtime folder under a regular file: no folder (and so no socket) can ever be made there, even as
    // root.
    char path[] = "/tmp/ntbridge-not-a-folder-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    file_ = path;
    setenv("XDG_RUNTIME_DIR", (file_ + "/run").c_str(), 1);
    LayerTest::SetUp();
  }
  void TearDown() override {
    LayerTest::TearDown();
    unsetenv("XDG_RUNTIME_DIR");
    unlink(file_.c_str());
  }
  // The one message of the failure, which must say what went wrong.
  std::string TakeFailureMessage() {
    auto messages = vk->monitor.Take();
    EXPECT_FALSE(messages.empty()) << "the failure was not reported";
    std::string all;
    for (const auto& m : messages) all += m.text + "\n";
    return all;
  }
  std::string file_;
};

TEST_F(BrokerUnavailable, KmtExportFailsWithAClearMessage) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt | kKmt);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  VkResult r = VK_SUCCESS;
  HANDLE kmt = dev->GetHandle(memory, kKmt, &r);
  EXPECT_NE(r, VK_SUCCESS);
  EXPECT_EQ(kmt, nullptr);
  std::string text = TakeFailureMessage();
  EXPECT_NE(text.find("broker"), std::string::npos) << text;
  EXPECT_NE(text.find(file_), std::string::npos) << "the message should name the folder: " << text;

  // NT handles keep working on the same memory.
  HANDLE nt = dev->GetHandle(memory, kNt, &r);
  ASSERT_EQ(r, VK_SUCCESS);
  VkDeviceMemory imported = dev->ImportHandle(kSize, kNt, nt);
  EXPECT_NE(imported, VK_NULL_HANDLE);
  dev->Free(imported);
  close(static_cast<int>(reinterpret_cast<intptr_t>(nt)));
  dev->Free(memory);
}

TEST_F(BrokerUnavailable, NamedExportFailsWithAClearMessage) {
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                         nullptr, 0, L"Local\\ntbridge-no-broker"};
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &win32, kNt};
  const int before = CountOpenFds();
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkResult r = dev->Allocate(kSize, dev->HostVisibleType(), &export_info, &memory);
  EXPECT_NE(r, VK_SUCCESS);
  EXPECT_EQ(memory, VK_NULL_HANDLE);
  EXPECT_EQ(CountOpenFds(), before);
  std::string text = TakeFailureMessage();
  EXPECT_NE(text.find("broker"), std::string::npos) << text;

  // Unnamed NT exports still work.
  VkDeviceMemory plain = dev->AllocateExportable(kSize, kNt);
  HANDLE nt = dev->GetHandle(plain, kNt, &r);
  EXPECT_EQ(r, VK_SUCCESS);
  close(static_cast<int>(reinterpret_cast<intptr_t>(nt)));
  dev->Free(plain);
}

}  // namespace
}  // namespace ntbridge::test
