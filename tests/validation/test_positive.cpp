// Valid usage goes through in silence, with the Khronos validation layer below checking what ntbridge sends.
#include <unistd.h>

#include "validation_test.hpp"

namespace ntbridge::test {
namespace {

using Positive = ValidationTest;

TEST_F(Positive, ExportWithWin32InfoThenImport) {
  SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), nullptr, FALSE};
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, &sa,
                                         DXGI_SHARED_RESOURCE_READ | DXGI_SHARED_RESOURCE_WRITE, nullptr};
  VkDeviceMemory exporter = dev->AllocateExportable(kSize, kNt | kKmt, &win32);
  ASSERT_NE(exporter, VK_NULL_HANDLE);
  HANDLE handle = dev->GetHandle(exporter, kNt);
  ASSERT_NE(handle, nullptr);
  VkDeviceMemory imported = dev->ImportHandle(kSize, kNt, handle, nullptr);
  ASSERT_NE(imported, VK_NULL_HANDLE);
  dev->WriteU32(imported, 0xfeed);
  EXPECT_EQ(dev->ReadU32(exporter), 0xfeedu);
  dev->Free(imported);
  dev->Free(exporter);
  close(static_cast<int>(reinterpret_cast<intptr_t>(handle)));
}

TEST_F(Positive, ImportOfAHandleWhoseExporterIsFreed) {
  // The NT handle keeps the payload; the exporter's record goes with its memory, so nothing stale is checked.
  VkDeviceMemory exporter = dev->AllocateExportable(kSize, kNt);
  HANDLE handle = dev->GetHandle(exporter, kNt);
  dev->WriteU32(exporter, 0xabc);
  dev->Free(exporter);
  VkDeviceMemory imported = dev->ImportHandle(kSize, kNt, handle, nullptr);
  ASSERT_NE(imported, VK_NULL_HANDLE);
  EXPECT_EQ(dev->ReadU32(imported), 0xabcu);
  dev->Free(imported);
  close(static_cast<int>(reinterpret_cast<intptr_t>(handle)));
}

TEST_F(Positive, ImportStructureWithHandleTypeZeroIsIgnored) {
  VkImportMemoryWin32HandleInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR};
  VkDeviceMemory memory = VK_NULL_HANDLE;
  ASSERT_EQ(Allocate(&import, &memory), VK_SUCCESS);
  dev->Free(memory);
}

TEST_F(Positive, OneNtHandlePerMemoryAndType) {
  VkDeviceMemory a = dev->AllocateExportable(kSize, kNt);
  VkDeviceMemory b = dev->AllocateExportable(kSize, kNt);
  HANDLE ha = dev->GetHandle(a, kNt);
  HANDLE hb = dev->GetHandle(b, kNt);
  EXPECT_NE(ha, nullptr);
  EXPECT_NE(hb, nullptr);
  EXPECT_NE(ha, hb);
  close(static_cast<int>(reinterpret_cast<intptr_t>(ha)));
  close(static_cast<int>(reinterpret_cast<intptr_t>(hb)));
  dev->Free(a);
  dev->Free(b);
}

TEST_F(Positive, FreeingNullMemoryIsFine) { vkFreeMemory(dev->device, VK_NULL_HANDLE, nullptr); }

}  // namespace
}  // namespace ntbridge::test
