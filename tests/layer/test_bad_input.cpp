// Garbage never reaches the driver: bad handles get a clear error and a message, and no descriptor leaks.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 64 * 1024;
constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;

HANDLE H(intptr_t v) { return reinterpret_cast<HANDLE>(v); }

class BadInput : public LayerTest {
 protected:
  // Imports `handle` expecting failure with a message that names the problem; returns the message.
  std::string ExpectImportRefused(HANDLE handle, const char* vuid) {
    int before = CountOpenFds();
    VkResult r = VK_SUCCESS;
    VkDeviceMemory m = dev->ImportHandle(kSize, kNt, handle, nullptr, &r);
    EXPECT_EQ(m, VK_NULL_HANDLE);
    EXPECT_EQ(r, VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(CountOpenFds(), before) << "a descriptor leaked";
    auto messages = vk->monitor.Take();
    EXPECT_EQ(messages.size(), 1u) << Describe(messages);
    if (messages.empty()) return {};
    EXPECT_EQ(messages[0].id, vuid);
    return messages[0].text;
  }
};

TEST_F(BadInput, NullAndInvalidHandleValues) {
  ExpectImportRefused(H(0), "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
  ExpectImportRefused(INVALID_HANDLE_VALUE, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
  ExpectImportRefused(H(-42), "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
  ExpectImportRefused(H(intptr_t{1} << 40), "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
}

TEST_F(BadInput, ClosedDescriptor) {
  int fd = memfd_create("closed", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string text = ExpectImportRefused(H(fd), "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
  EXPECT_NE(text.find("not open"), std::string::npos) << text;
}

TEST_F(BadInput, DescriptorsThatAreNotVulkanMemory) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  std::string text =
      ExpectImportRefused(H(pipe_fds[0]), "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
  EXPECT_NE(text.find("not Vulkan memory"), std::string::npos) << text;
  close(pipe_fds[0]);
  close(pipe_fds[1]);

  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ExpectImportRefused(H(sv[0]), "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
  close(sv[0]);
  close(sv[1]);

  int dev_null = open("/dev/null", O_RDWR | O_CLOEXEC);
  ExpectImportRefused(H(dev_null), "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
  close(dev_null);

  int file = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ExpectImportRefused(H(file), "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
  close(file);
}

TEST_F(BadInput, MemfdSmallerThanTheAllocation) {
  int fd = memfd_create("small", MFD_CLOEXEC);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  std::string text = ExpectImportRefused(H(fd), "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661");
  EXPECT_NE(text.find("fewer than allocationSize"), std::string::npos) << text;
  close(fd);
}

TEST_F(BadInput, D3DExportTypesAreRefused) {
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr,
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT};
  VkDeviceMemory m = VK_NULL_HANDLE;
  EXPECT_EQ(dev->Allocate(kSize, dev->HostVisibleType(), &export_info, &m), VK_ERROR_VALIDATION_FAILED_EXT);
  EXPECT_EQ(m, VK_NULL_HANDLE);
  auto messages = vk->monitor.Take();
  ASSERT_EQ(messages.size(), 1u) << Describe(messages);
  EXPECT_EQ(messages[0].id, "VUID-VkExportMemoryAllocateInfo-handleTypes-00656");
}

TEST_F(BadInput, D3DImportTypesAreRefused) {
  int before = CountOpenFds();
  VkResult r = VK_SUCCESS;
  VkDeviceMemory m =
      dev->ImportHandle(kSize, VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT, H(5), nullptr, &r);
  EXPECT_EQ(m, VK_NULL_HANDLE);
  EXPECT_EQ(r, VK_ERROR_VALIDATION_FAILED_EXT);
  EXPECT_EQ(CountOpenFds(), before);
  auto messages = vk->monitor.Take();
  ASSERT_EQ(messages.size(), 1u) << Describe(messages);
  EXPECT_EQ(messages[0].id, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00658");
}

TEST_F(BadInput, D3DBufferTypesAreRefused) {
  VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                       VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT};
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &ext};
  info.size = 4096;
  info.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  VkBuffer buffer = VK_NULL_HANDLE;
  EXPECT_EQ(vkCreateBuffer(dev->device, &info, nullptr, &buffer), VK_ERROR_VALIDATION_FAILED_EXT);
  auto messages = vk->monitor.Take();
  ASSERT_EQ(messages.size(), 1u) << Describe(messages);
  EXPECT_EQ(messages[0].id, "VUID-VkBufferCreateInfo-pNext-00920");
}

TEST_F(BadInput, ExportOfMemoryThatWasNotMadeExportable) {
  VkDeviceMemory m = VK_NULL_HANDLE;
  ASSERT_EQ(dev->Allocate(kSize, dev->HostVisibleType(), nullptr, &m), VK_SUCCESS);
  VkResult r = VK_SUCCESS;
  HANDLE h = dev->GetHandle(m, kNt, &r);
  EXPECT_EQ(r, VK_ERROR_VALIDATION_FAILED_EXT);
  EXPECT_EQ(h, nullptr);
  auto messages = vk->monitor.Take();
  ASSERT_EQ(messages.size(), 1u) << Describe(messages);
  EXPECT_EQ(messages[0].id, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00662");
  dev->Free(m);
}

TEST_F(BadInput, CyclicChainIsRefused) {
  VkExportMemoryAllocateInfo a{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr, kNt};
  VkMemoryDedicatedAllocateInfo b{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, &a};
  a.pNext = &b;
  VkDeviceMemory m = VK_NULL_HANDLE;
  EXPECT_EQ(dev->Allocate(kSize, dev->HostVisibleType(), &a, &m), VK_ERROR_VALIDATION_FAILED_EXT);
  auto messages = vk->monitor.Take();
  ASSERT_EQ(messages.size(), 1u) << Describe(messages);
  EXPECT_EQ(messages[0].id, "VUID-VkMemoryAllocateInfo-pNext-pNext");
}

}  // namespace
}  // namespace ntbridge::test
