// vkGetMemoryWin32HandleKHR: one negative test per VUID the layer checks.
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "validation_test.hpp"

namespace ntbridge::test {
namespace {

constexpr const char* kCmd = "vkGetMemoryWin32HandleKHR";

class GetWin32Handle : public ValidationTest {
 protected:
  void SetUp() override {
    ValidationTest::SetUp();
    if (HasFatalFailure()) return;
    memory = dev->AllocateExportable(kSize, kNt);
    ASSERT_NE(memory, VK_NULL_HANDLE);
  }
  void TearDown() override {
    if (dev && memory != VK_NULL_HANDLE) dev->Free(memory);
    ValidationTest::TearDown();
  }
  VkMemoryGetWin32HandleInfoKHR Info(VkExternalMemoryHandleTypeFlagBits type = kNt) const {
    return {VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory, type};
  }
  // The call must fail with `vuid` and leave *pHandle alone.
  void ExpectRefused(const VkMemoryGetWin32HandleInfoKHR* info, const char* vuid, const std::string& detail) {
    HANDLE handle = H(0x1234);
    EXPECT_EQ(GetHandle(info, &handle), VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(handle, H(0x1234));
    ExpectOnly(vuid, kCmd, detail);
  }
  VkDeviceMemory memory = VK_NULL_HANDLE;
};

TEST_F(GetWin32Handle, DeviceWithoutTheExtension) {
  VulkanDevice plain(*vk, {});
  ASSERT_EQ(plain.create_result, VK_SUCCESS);
  auto info = Info();
  HANDLE handle = nullptr;
  // The command from a device that has the extension, called with one that does not.
  EXPECT_EQ(dev->GetMemoryWin32HandleKHR(plain.device, &info, &handle), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-vkGetMemoryWin32HandleKHR-device-parameter", kCmd, "VK_KHR_external_memory_win32");
}

TEST_F(GetWin32Handle, DeviceOfAnInstanceWithoutNtbridge) {
  VulkanInstance other(InstanceOptions{.ntbridge = false, .validation = false});
  ASSERT_TRUE(other.ok()) << other.error;
  VulkanDevice foreign(other, {});
  ASSERT_EQ(foreign.create_result, VK_SUCCESS);
  auto info = Info();
  HANDLE handle = nullptr;
  testing::internal::CaptureStderr();
  EXPECT_EQ(dev->GetMemoryWin32HandleKHR(foreign.device, &info, &handle), VK_ERROR_VALIDATION_FAILED_EXT);
  std::string err = testing::internal::GetCapturedStderr();
  // No messenger of this layer knows that device: the report goes to stderr.
  EXPECT_NE(
      err.find("ERROR: VUID-vkGetMemoryWin32HandleKHR-device-parameter [ntbridge] vkGetMemoryWin32HandleKHR: "
               "device 0x"),
      std::string::npos)
      << err;
  EXPECT_TRUE(other.monitor.Problems().empty());
}

TEST_F(GetWin32Handle, NullGetWin32HandleInfo) {
  ExpectRefused(nullptr, "VUID-vkGetMemoryWin32HandleKHR-pGetWin32HandleInfo-parameter",
                "pGetWin32HandleInfo is NULL");
}

TEST_F(GetWin32Handle, WrongSType) {
  auto info = Info();
  info.sType = VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR;
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-sType-sType", "pGetWin32HandleInfo->sType is");
}

TEST_F(GetWin32Handle, NonNullPNext) {
  VkExportMemoryAllocateInfo stray{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO};
  auto info = Info();
  info.pNext = &stray;
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-pNext-pNext", "pGetWin32HandleInfo->pNext is 0x");
}

TEST_F(GetWin32Handle, NullPHandle) {
  auto info = Info();
  EXPECT_EQ(GetHandle(&info, nullptr), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-vkGetMemoryWin32HandleKHR-pHandle-parameter", kCmd, "pHandle is NULL");
}

TEST_F(GetWin32Handle, NullMemory) {
  auto info = Info();
  info.memory = VK_NULL_HANDLE;
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-memory-parameter",
                "pGetWin32HandleInfo->memory 0x0 ");
}

TEST_F(GetWin32Handle, GarbageMemory) {
  auto info = Info();
  info.memory = reinterpret_cast<VkDeviceMemory>(uintptr_t{0xdeadbeef});
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-memory-parameter", "0xdeadbeef is not a live");
}

TEST_F(GetWin32Handle, FreedMemory) {
  VkDeviceMemory freed = dev->AllocateExportable(kSize, kNt);
  dev->Free(freed);
  auto info = Info();
  info.memory = freed;
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-memory-parameter", "is not a live VkDeviceMemory");
}

TEST_F(GetWin32Handle, HandleTypeZero) {
  auto info = Info(static_cast<VkExternalMemoryHandleTypeFlagBits>(0));
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-parameter", "handleType is 0");
}

TEST_F(GetWin32Handle, HandleTypeTwoBits) {
  auto info = Info(static_cast<VkExternalMemoryHandleTypeFlagBits>(kNt | kKmt));
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-parameter", "handleType is 0x6");
}

TEST_F(GetWin32Handle, HandleTypeUndefinedBit) {
  auto info = Info(kUndefinedBit);
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-parameter", "handleType is 0x40000000");
}

TEST_F(GetWin32Handle, HandleTypeNotNtNorGlobalShare) {
  auto info = Info(kFd);
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00664",
                "pGetWin32HandleInfo->handleType is VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT");
}

TEST_F(GetWin32Handle, HandleTypeNotExported) {
  auto info = Info(kKmt);
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00662",
                "VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT, which was not included");
  auto d3d = Info(kD3D11);
  ExpectRefused(&d3d, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00662",
                "VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT, which was not included");
}

TEST_F(GetWin32Handle, SecondNtHandleOfTheSameMemory) {
  auto info = Info();
  HANDLE first = nullptr;
  ASSERT_EQ(GetHandle(&info, &first), VK_SUCCESS);
  EXPECT_TRUE(vk->monitor.Problems().empty());
  ExpectRefused(&info, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663", "already fetched");
  // Another memory object is another combination: allowed.
  VkDeviceMemory other = dev->AllocateExportable(kSize, kNt);
  HANDLE second = dev->GetHandle(other, kNt);
  EXPECT_NE(second, nullptr);
  close(static_cast<int>(reinterpret_cast<intptr_t>(first)));
  close(static_cast<int>(reinterpret_cast<intptr_t>(second)));
  dev->Free(other);
}

TEST_F(GetWin32Handle, SecondNtHandleRaceHasOneWinner) {
  // The check and the record of the first fetch are one step: of many threads, exactly one gets a handle.
  auto info = Info();
  constexpr int kThreads = 8;
  std::atomic<int> successes{0};
  std::vector<HANDLE> handles(kThreads, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      if (GetHandle(&info, &handles[i]) == VK_SUCCESS) ++successes;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(successes.load(), 1);
  auto messages = vk->monitor.Take();
  EXPECT_EQ(messages.size(), size_t{kThreads - 1}) << Describe(messages);
  for (const auto& m : messages) EXPECT_EQ(m.id, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663");
  for (HANDLE h : handles) {
    if (h != nullptr) close(static_cast<int>(reinterpret_cast<intptr_t>(h)));
  }
}

}  // namespace
}  // namespace ntbridge::test
