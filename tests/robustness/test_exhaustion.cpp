// Exhaustion: at the descriptor limit exports fail with VK_ERROR_TOO_MANY_OBJECTS and recover; driver
// allocation failures propagate without leaking the layer's bookkeeping or descriptors.
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

#include "stress_budget.hpp"
#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 64 * 1024;
constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;

int Fd(HANDLE h) { return static_cast<int>(reinterpret_cast<intptr_t>(h)); }

// Lowers the descriptor limit and fills every free descriptor; undone on destruction.
class DescriptorsExhausted {
 public:
  DescriptorsExhausted() {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(CountOpenFds() + 32);
    setrlimit(RLIMIT_NOFILE, &low);
    for (;;) {
      int fd = dup(STDERR_FILENO);
      if (fd < 0) break;
      fillers_.push_back(fd);
    }
  }
  ~DescriptorsExhausted() {
    for (int fd : fillers_) close(fd);
    setrlimit(RLIMIT_NOFILE, &saved_);
  }
  void Release(size_t n) {
    for (size_t i = 0; i < n && !fillers_.empty(); ++i) {
      close(fillers_.back());
      fillers_.pop_back();
    }
  }
  size_t filled() const { return fillers_.size(); }

 private:
  rlimit saved_{};
  std::vector<int> fillers_;
};

class Exhaustion : public LayerTest {};

TEST_F(Exhaustion, ExportAtTheDescriptorLimitFailsThenRecovers) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  {
    DescriptorsExhausted exhausted;
    ASSERT_GT(exhausted.filled(), 0u);
    VkResult r = VK_SUCCESS;
    HANDLE h = dev->GetHandle(memory, kNt, &r);
    EXPECT_EQ(r, VK_ERROR_TOO_MANY_OBJECTS);
    EXPECT_EQ(h, nullptr);
    exhausted.Release(4);
    h = dev->GetHandle(memory, kNt, &r);
    EXPECT_EQ(r, VK_SUCCESS) << "no recovery once descriptors are free";
    EXPECT_GT(Fd(h), 0);
    if (r == VK_SUCCESS) close(Fd(h));
  }
  dev->Free(memory);
  vk->monitor.Clear();  // the failure's warning, if any, is expected
}

TEST_F(Exhaustion, ImportAtTheDescriptorLimitFailsThenRecovers) {
  VkDeviceMemory exported = dev->AllocateExportable(kSize, kNt);
  HANDLE handle = dev->GetHandle(exported, kNt);
  ASSERT_NE(handle, nullptr);
  {
    DescriptorsExhausted exhausted;
    VkResult r = VK_SUCCESS;
    VkDeviceMemory imported = dev->ImportHandle(kSize, kNt, handle, nullptr, &r);
    EXPECT_EQ(r, VK_ERROR_TOO_MANY_OBJECTS);
    EXPECT_EQ(imported, VK_NULL_HANDLE);
    exhausted.Release(4);
    imported = dev->ImportHandle(kSize, kNt, handle, nullptr, &r);
    EXPECT_EQ(r, VK_SUCCESS);
    if (imported != VK_NULL_HANDLE) dev->Free(imported);
  }
  close(Fd(handle));
  dev->Free(exported);
  vk->monitor.Clear();
}

TEST_F(Exhaustion, DriverAllocationFailuresLeakNothing) {
  const int before = CountOpenFds();
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr, kNt};
  StressBudget budget("failed 4 PiB exportable allocations", 200, 20);
  for (int i = 0; budget.Continue(i); ++i) {
    VkDeviceMemory m = VK_NULL_HANDLE;
    VkResult r = dev->Allocate(VkDeviceSize{1} << 52, dev->HostVisibleType(), &export_info, &m);
    ASSERT_NE(r, VK_SUCCESS) << "the driver allocated 4 PiB";
    EXPECT_EQ(m, VK_NULL_HANDLE);
    budget.Completed();
  }
  budget.Report();
  EXPECT_EQ(CountOpenFds(), before);
  // The layer recorded nothing for the failed allocations: the device still works normally.
  VkDeviceMemory m = dev->AllocateExportable(kSize, kNt);
  HANDLE h = dev->GetHandle(m, kNt);
  VkDeviceMemory i = dev->ImportHandle(kSize, kNt, h);
  EXPECT_NE(i, VK_NULL_HANDLE);
  dev->Free(i);
  dev->Free(m);
  close(Fd(h));
  EXPECT_EQ(CountOpenFds(), before);
  vk->monitor.Clear();  // the driver's own out-of-memory reports
}

}  // namespace
}  // namespace ntbridge::test
