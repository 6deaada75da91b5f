// Export → NT handle → import, within one process: one device and two devices.
#include <fcntl.h>
#include <unistd.h>

#include "stress_budget.hpp"
#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 64 * 1024;
constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;

int Fd(HANDLE h) { return static_cast<int>(reinterpret_cast<intptr_t>(h)); }

class ExportImport : public LayerTest {};

TEST_F(ExportImport, HandleIsANewCloseOnExecDescriptor) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt);
  HANDLE handle = dev->GetHandle(memory, kNt);
  ASSERT_NE(handle, nullptr);
  ASSERT_NE(handle, INVALID_HANDLE_VALUE);
  int flags = fcntl(Fd(handle), F_GETFD);
  ASSERT_GE(flags, 0) << "the handle is not an open descriptor";
  EXPECT_TRUE(flags & FD_CLOEXEC);
  close(Fd(handle));
  dev->Free(memory);
}

// The layer learns from the first export of a memory type whether the driver's descriptors come
// close-on-exec, and skips its own fcntl when they do (lavapipe's do not): every later handle must still be
// close-on-exec, and an inheritable one must not be, in either order.
TEST_F(ExportImport, EveryHandleHasTheRequestedInheritanceAfterTheFirst) {
  SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  VkExportMemoryWin32HandleInfoKHR inheritable{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                               &inherit, 0, nullptr};
  for (int i = 0; i < 6; ++i) {
    const bool want_inherit = (i % 3) == 1;
    VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt, want_inherit ? &inheritable : nullptr);
    HANDLE handle = dev->GetHandle(memory, kNt);
    ASSERT_NE(handle, nullptr);
    int flags = fcntl(Fd(handle), F_GETFD);
    ASSERT_GE(flags, 0) << "handle " << i << " is not an open descriptor";
    EXPECT_EQ((flags & FD_CLOEXEC) != 0, !want_inherit) << "handle " << i;
    close(Fd(handle));
    dev->Free(memory);
  }
}

TEST_F(ExportImport, SameDeviceWritesVisibleBothWays) {
  VkDeviceMemory exported = dev->AllocateExportable(kSize, kNt);
  dev->WriteU32(exported, 0xC0FFEE01);
  HANDLE handle = dev->GetHandle(exported, kNt);
  VkDeviceMemory imported = dev->ImportHandle(kSize, kNt, handle);
  ASSERT_NE(imported, VK_NULL_HANDLE);
  EXPECT_EQ(dev->ReadU32(imported), 0xC0FFEE01u);
  dev->WriteU32(imported, 0xBEEF0002, 128);
  EXPECT_EQ(dev->ReadU32(exported, 128), 0xBEEF0002u);
  dev->Free(imported);
  dev->Free(exported);
  close(Fd(handle));
}

TEST_F(ExportImport, SecondDeviceWritesVisibleBothWays) {
  VulkanDevice second(*vk);
  ASSERT_EQ(second.create_result, VK_SUCCESS);
  VkDeviceMemory exported = dev->AllocateExportable(kSize, kNt);
  dev->WriteU32(exported, 0x12345678);
  HANDLE handle = dev->GetHandle(exported, kNt);
  VkDeviceMemory imported = second.ImportHandle(kSize, kNt, handle);
  ASSERT_NE(imported, VK_NULL_HANDLE);
  EXPECT_EQ(second.ReadU32(imported), 0x12345678u);
  second.WriteU32(imported, 0x9ABCDEF0, 4);
  EXPECT_EQ(dev->ReadU32(exported, 4), 0x9ABCDEF0u);
  second.Free(imported);
  dev->Free(exported);
  close(Fd(handle));
}

TEST_F(ExportImport, HandleStillValidAfterImportAndClosingItKeepsMemory) {
  VkDeviceMemory exported = dev->AllocateExportable(kSize, kNt);
  HANDLE handle = dev->GetHandle(exported, kNt);
  VkDeviceMemory imported = dev->ImportHandle(kSize, kNt, handle);
  ASSERT_NE(imported, VK_NULL_HANDLE);
  // The layer did not consume the application's handle: it can be imported again.
  ASSERT_GE(fcntl(Fd(handle), F_GETFD), 0);
  VkDeviceMemory again = dev->ImportHandle(kSize, kNt, handle);
  ASSERT_NE(again, VK_NULL_HANDLE);
  ASSERT_EQ(close(Fd(handle)), 0);
  dev->WriteU32(exported, 77);
  EXPECT_EQ(dev->ReadU32(imported), 77u);
  EXPECT_EQ(dev->ReadU32(again), 77u);
  dev->Free(again);
  dev->Free(imported);
  dev->Free(exported);
}

TEST_F(ExportImport, NtHandleKeepsPayloadAliveAfterExporterIsFreed) {
  VkDeviceMemory exported = dev->AllocateExportable(kSize, kNt);
  dev->WriteU32(exported, 0xA11CE);
  HANDLE handle = dev->GetHandle(exported, kNt);
  dev->Free(exported);
  VkDeviceMemory imported = dev->ImportHandle(kSize, kNt, handle);
  ASSERT_NE(imported, VK_NULL_HANDLE);
  EXPECT_EQ(dev->ReadU32(imported), 0xA11CEu);
  dev->Free(imported);
  close(Fd(handle));
}

TEST_F(ExportImport, WithOtherDriverTypesAndAttributes) {
  SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), nullptr, FALSE};
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, &sa,
                                         DXGI_SHARED_RESOURCE_READ | DXGI_SHARED_RESOURCE_WRITE, nullptr};
  VkDeviceMemory memory = dev->AllocateExportable(kSize,
                                                  kNt | VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT |
                                                      VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,
                                                  &win32);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  HANDLE handle = dev->GetHandle(memory, kNt);
  EXPECT_TRUE(fcntl(Fd(handle), F_GETFD) & FD_CLOEXEC);
  close(Fd(handle));
  dev->Free(memory);
}

TEST_F(ExportImport, InheritableHandleIsNotCloseOnExec) {
  SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, &sa,
                                         0, nullptr};
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt, &win32);
  HANDLE handle = dev->GetHandle(memory, kNt);
  int flags = fcntl(Fd(handle), F_GETFD);
  ASSERT_GE(flags, 0);
  EXPECT_FALSE(flags & FD_CLOEXEC);
  close(Fd(handle));
  dev->Free(memory);
}

TEST_F(ExportImport, BufferAndImageOnExportedAndImportedMemory) {
  VkExternalMemoryBufferCreateInfo ext_buffer{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                              kNt};
  VkBufferCreateInfo buffer_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &ext_buffer};
  buffer_info.size = kSize;
  buffer_info.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  VkBuffer exported_buffer = VK_NULL_HANDLE, imported_buffer = VK_NULL_HANDLE;
  ASSERT_EQ(vkCreateBuffer(dev->device, &buffer_info, nullptr, &exported_buffer), VK_SUCCESS);
  ASSERT_EQ(vkCreateBuffer(dev->device, &buffer_info, nullptr, &imported_buffer), VK_SUCCESS);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev->device, exported_buffer, &req);

  VkExternalMemoryImageCreateInfo ext_image{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO, nullptr,
                                            kNt};
  VkImageCreateInfo image_info{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO, &ext_image};
  image_info.imageType = VK_IMAGE_TYPE_2D;
  image_info.format = VK_FORMAT_R8G8B8A8_UNORM;
  image_info.extent = {64, 64, 1};
  image_info.mipLevels = 1;
  image_info.arrayLayers = 1;
  image_info.samples = VK_SAMPLE_COUNT_1_BIT;
  image_info.tiling = VK_IMAGE_TILING_OPTIMAL;
  image_info.usage = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT;
  image_info.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  VkImage image = VK_NULL_HANDLE, imported_image = VK_NULL_HANDLE;
  ASSERT_EQ(vkCreateImage(dev->device, &image_info, nullptr, &image), VK_SUCCESS);
  ASSERT_EQ(vkCreateImage(dev->device, &image_info, nullptr, &imported_image), VK_SUCCESS);
  VkMemoryRequirements image_req;
  vkGetImageMemoryRequirements(dev->device, image, &image_req);

  // One allocation both can use (on NVIDIA, optimal images do not live in host-visible memory).
  uint32_t type = dev->TypeFromBits(req.memoryTypeBits & image_req.memoryTypeBits);
  ASSERT_NE(type, UINT32_MAX) << "no memory type for both the buffer and the image";
  VkDeviceSize size = std::max<VkDeviceSize>(kSize, image_req.size);
  VkDeviceMemory exported = dev->AllocateExportable(size, kNt, nullptr, type);
  HANDLE handle = dev->GetHandle(exported, kNt);
  VkDeviceMemory imported = dev->ImportHandle(size, kNt, handle, nullptr, nullptr, type);
  ASSERT_NE(imported, VK_NULL_HANDLE);
  EXPECT_EQ(vkBindBufferMemory(dev->device, exported_buffer, exported, 0), VK_SUCCESS);
  EXPECT_EQ(vkBindBufferMemory(dev->device, imported_buffer, imported, 0), VK_SUCCESS);
  EXPECT_EQ(vkBindImageMemory(dev->device, image, exported, 0), VK_SUCCESS);
  EXPECT_EQ(vkBindImageMemory(dev->device, imported_image, imported, 0), VK_SUCCESS);

  vkDestroyImage(dev->device, image, nullptr);
  vkDestroyImage(dev->device, imported_image, nullptr);
  vkDestroyBuffer(dev->device, exported_buffer, nullptr);
  vkDestroyBuffer(dev->device, imported_buffer, nullptr);
  dev->Free(imported);
  dev->Free(exported);
  close(Fd(handle));
}

TEST_F(ExportImport, DedicatedAllocationPassesThrough) {
  VkExternalMemoryBufferCreateInfo ext_buffer{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                              kNt};
  VkBufferCreateInfo buffer_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &ext_buffer};
  buffer_info.size = kSize;
  buffer_info.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  VkBuffer buffer = VK_NULL_HANDLE;
  ASSERT_EQ(vkCreateBuffer(dev->device, &buffer_info, nullptr, &buffer), VK_SUCCESS);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev->device, buffer, &req);
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, nullptr,
                                          VK_NULL_HANDLE, buffer};
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &dedicated, kNt};
  VkDeviceMemory memory = VK_NULL_HANDLE;
  ASSERT_EQ(dev->Allocate(req.size, dev->HostVisibleType(), &export_info, &memory), VK_SUCCESS);
  EXPECT_EQ(vkBindBufferMemory(dev->device, buffer, memory, 0), VK_SUCCESS);
  HANDLE handle = dev->GetHandle(memory, kNt);
  EXPECT_GE(fcntl(Fd(handle), F_GETFD), 0);
  close(Fd(handle));
  vkDestroyBuffer(dev->device, buffer, nullptr);
  dev->Free(memory);
}

// 1000 cycles, or as many as NTBRIDGE_STRESS_SECONDS allow (at least 100).
TEST_F(ExportImport, RepeatedCyclesLeakNoDescriptor) {
  // Warm up once so lazily opened driver descriptors are not counted.
  {
    VkDeviceMemory m = dev->AllocateExportable(kSize, kNt);
    HANDLE h = dev->GetHandle(m, kNt);
    VkDeviceMemory i = dev->ImportHandle(kSize, kNt, h);
    dev->Free(i);
    dev->Free(m);
    close(Fd(h));
  }
  int before = CountOpenFds();
  StressBudget budget("export/get handle/import/free cycles", 1000, 100);
  for (int n = 0; budget.Continue(n); ++n) {
    VkDeviceMemory m = dev->AllocateExportable(kSize, kNt);
    HANDLE h = dev->GetHandle(m, kNt);
    VkDeviceMemory i = dev->ImportHandle(kSize, kNt, h);
    ASSERT_NE(i, VK_NULL_HANDLE) << "cycle " << n;
    dev->Free(i);
    dev->Free(m);
    close(Fd(h));
    budget.Completed();
  }
  budget.Report();
  EXPECT_GE(budget.completed(), budget.floor());
  EXPECT_EQ(CountOpenFds(), before);
}

}  // namespace
}  // namespace ntbridge::test
