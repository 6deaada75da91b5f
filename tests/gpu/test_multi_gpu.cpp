// Two physical devices: memory exported on one must not be imported on the other
// (VUID-VkImportMemoryWin32HandleInfoKHR-handle-00659), by NT handle, by name and by KMT value. Needs two
// GPUs; skipped, saying so, elsewhere.
#include <unistd.h>

#include <cstring>
#include <memory>

#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 1 << 20;
constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
constexpr auto kKmt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

class MultiGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    vk_ = std::make_unique<VulkanInstance>();
    ASSERT_TRUE(vk_->instance != VK_NULL_HANDLE) << vk_->error;
    uint32_t count = 0;
    vkEnumeratePhysicalDevices(vk_->instance, &count, nullptr);
    std::vector<VkPhysicalDevice> gpus(count);
    vkEnumeratePhysicalDevices(vk_->instance, &count, gpus.data());
    for (VkPhysicalDevice g : gpus) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties(g, &p);
      if (p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) continue;
      real_.push_back(g);
    }
    if (real_.size() < 2) GTEST_SKIP() << "needs two GPUs; this machine has " << real_.size();
    vk_->gpu = real_[0];
    a_ = std::make_unique<VulkanDevice>(*vk_);
    vk_->gpu = real_[1];
    b_ = std::make_unique<VulkanDevice>(*vk_);
    ASSERT_EQ(a_->create_result, VK_SUCCESS);
    ASSERT_EQ(b_->create_result, VK_SUCCESS);
    vk_->gpu = real_[0];
    vk_->monitor.Clear();
  }
  void TearDown() override {
    b_.reset();
    a_.reset();
    vk_.reset();
  }
  // The import on B must be refused for 00659, naming both devices' UUIDs.
  void ExpectRefused(VkResult r, VkDeviceMemory m, const char* how) {
    EXPECT_EQ(r, VK_ERROR_VALIDATION_FAILED_EXT) << how;
    EXPECT_EQ(m, VK_NULL_HANDLE) << how;
    auto messages = vk_->monitor.Take();
    ASSERT_EQ(messages.size(), 1u) << how << Describe(messages);
    EXPECT_EQ(messages[0].id, "VUID-VkImportMemoryWin32HandleInfoKHR-handle-00659") << how;
    std::printf("%s on the other GPU: %s\n", how, messages[0].text.c_str());
  }
  std::unique_ptr<VulkanInstance> vk_;
  std::vector<VkPhysicalDevice> real_;
  std::unique_ptr<VulkanDevice> a_, b_;
};

TEST_F(MultiGpu, NtHandleImportOnTheOtherGpuIsRefused) {
  VkDeviceMemory exported = a_->AllocateExportable(kSize, kNt);
  HANDLE handle = a_->GetHandle(exported, kNt);
  VkResult r = VK_SUCCESS;
  VkDeviceMemory imported = b_->ImportHandle(kSize, kNt, handle, nullptr, &r);
  ExpectRefused(r, imported, "NT handle");
  // The same handle imports on its own GPU.
  VkDeviceMemory same = a_->ImportHandle(kSize, kNt, handle);
  EXPECT_NE(same, VK_NULL_HANDLE);
  a_->Free(same);
  close(static_cast<int>(reinterpret_cast<intptr_t>(handle)));
  a_->Free(exported);
}

TEST_F(MultiGpu, NamedImportOnTheOtherGpuIsRefused) {
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                         nullptr, 0, L"Local\\ntbridge-multi-gpu"};
  VkDeviceMemory exported = a_->AllocateExportable(kSize, kNt, &win32);
  ASSERT_NE(exported, VK_NULL_HANDLE);
  VkResult r = VK_SUCCESS;
  VkDeviceMemory imported = b_->ImportHandle(kSize, kNt, nullptr, L"Local\\ntbridge-multi-gpu", &r);
  ExpectRefused(r, imported, "name");
  a_->Free(exported);
}

TEST_F(MultiGpu, KmtImportOnTheOtherGpuIsRefused) {
  VkDeviceMemory exported = a_->AllocateExportable(kSize, kNt | kKmt);
  HANDLE kmt = a_->GetHandle(exported, kKmt);
  ASSERT_NE(kmt, nullptr);
  VkResult r = VK_SUCCESS;
  VkDeviceMemory imported = b_->ImportHandle(kSize, kKmt, kmt, nullptr, &r);
  ExpectRefused(r, imported, "KMT value");
  a_->Free(exported);
}

}  // namespace
}  // namespace ntbridge::test
