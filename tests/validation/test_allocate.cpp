// vkAllocateMemory with Win32 export and import structures: one negative test per VUID the layer checks.
#include <unistd.h>

#include <string>
#include <vector>

#include "validation_test.hpp"

namespace ntbridge::test {
namespace {

constexpr const char* kCmd = "vkAllocateMemory";

class Allocate : public ValidationTest {
 protected:
  // The allocation must fail with `vuid`, leave *pMemory alone and leak no descriptor.
  void ExpectRefused(const void* pnext, const char* vuid, const std::string& detail,
                     VkDeviceSize size = kSize, uint32_t type_index = UINT32_MAX) {
    int fds = CountOpenFds();
    VkDeviceMemory memory = VK_NULL_HANDLE;
    EXPECT_EQ(
        dev->Allocate(size, type_index == UINT32_MAX ? dev->HostVisibleType() : type_index, pnext, &memory),
        VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(memory, VK_NULL_HANDLE);
    EXPECT_EQ(CountOpenFds(), fds) << "a descriptor leaked";
    ExpectOnly(vuid, kCmd, detail);
  }
  VkImportMemoryWin32HandleInfoKHR Import(VkExternalMemoryHandleTypeFlagBits type, HANDLE handle,
                                          LPCWSTR name = nullptr) {
    return {VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, type, handle, name};
  }
};

// Export side.

TEST_F(Allocate, ExportHandleTypesUndefinedBit) {
  VkExportMemoryAllocateInfo info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr,
                                  static_cast<VkExternalMemoryHandleTypeFlags>(kNt | kUndefinedBit)};
  ExpectRefused(&info, "VUID-VkExportMemoryAllocateInfo-handleTypes-parameter",
                "pAllocateInfo->pNext<VkExportMemoryAllocateInfo>.handleTypes is 0x40000002");
}

TEST_F(Allocate, ExportHandleTypesDirect3D) {
  VkExportMemoryAllocateInfo info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr,
                                  static_cast<VkExternalMemoryHandleTypeFlags>(kNt | kD3D11)};
  ExpectRefused(&info, "VUID-VkExportMemoryAllocateInfo-handleTypes-00656",
                "includes VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT");
}

TEST_F(Allocate, ExportWithNvExportStructures) {
  VkExportMemoryAllocateInfoNV nv{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO_NV};
  VkExportMemoryAllocateInfo info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &nv, kNt};
  ExpectRefused(&info, "VUID-VkMemoryAllocateInfo-pNext-00640", "VkExportMemoryAllocateInfoNV");
  VkExportMemoryWin32HandleInfoNV nv_win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_NV};
  info.pNext = &nv_win32;
  ExpectRefused(&info, "VUID-VkMemoryAllocateInfo-pNext-00640", "VkExportMemoryWin32HandleInfoNV");
}

TEST_F(Allocate, Win32ExportInfoWithoutOpaqueWin32) {
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR};
  VkExportMemoryAllocateInfo info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &win32, kFd};
  ExpectRefused(&info, "VUID-VkExportMemoryWin32HandleInfoKHR-handleTypes-00657",
                "VkExportMemoryAllocateInfo>.handleTypes (0x1) does not include "
                "VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT");
  // Without any VkExportMemoryAllocateInfo.
  ExpectRefused(&win32, "VUID-VkExportMemoryWin32HandleInfoKHR-handleTypes-00657",
                "no VkExportMemoryAllocateInfo");
}

TEST_F(Allocate, Win32ExportInfoWithBadSecurityAttributes) {
  SECURITY_ATTRIBUTES sa{0, nullptr, TRUE};
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, &sa};
  VkExportMemoryAllocateInfo info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &win32, kNt};
  ExpectRefused(&info, "VUID-VkExportMemoryWin32HandleInfoKHR-pAttributes-parameter",
                "pAttributes->nLength is 0, not sizeof(SECURITY_ATTRIBUTES)");
}

// Import side.

TEST_F(Allocate, ImportWithNvImportStructure) {
  VkImportMemoryWin32HandleInfoNV nv{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_NV};
  auto info = Import(kNt, H(5));
  info.pNext = &nv;
  ExpectRefused(&info, "VUID-VkMemoryAllocateInfo-pNext-00641", "VkImportMemoryWin32HandleInfoNV");
}

TEST_F(Allocate, ImportHandleAndName) {
  auto info = Import(kNt, H(5), L"Local\\ntbridge-both");
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handle-01441",
                "pAllocateInfo->pNext<VkImportMemoryWin32HandleInfoKHR>.handle is 0x5 and name is not NULL");
}

TEST_F(Allocate, ImportHandleTypeNotAValue) {
  auto info = Import(kUndefinedBit, H(5));
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-parameter",
                "handleType is 0x40000000");
  info.handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(kNt | kKmt);
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-parameter", "handleType is 0x6");
}

TEST_F(Allocate, ImportHandleTypeNotWin32) {
  auto info = Import(kFd, H(5));
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00660",
                "handleType is VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT");
}

TEST_F(Allocate, ImportHandleTypeNotSupported) {
  auto info = Import(VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT, H(5));
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00658",
                "VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT, which is not supported for import");
}

TEST_F(Allocate, TwoImportOperations) {
  VkImportMemoryFdInfoKHR fd_import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR, nullptr, kFd, -1};
  auto info = Import(kNt, H(5));
  info.pNext = &fd_import;
  ExpectRefused(&info, "VUID-VkMemoryAllocateInfo-None-06657", "VkImportMemoryFdInfoKHR");
}

TEST_F(Allocate, NameWithGlobalShareType) {
  auto info = Import(kKmt, nullptr, L"Local\\ntbridge-kmt");
  ExpectRefused(
      &info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-01439",
      "handleType is VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT, which is not an NT handle type");
}

TEST_F(Allocate, NameThatNamesNothing) {
  auto info = Import(kNt, nullptr, L"");
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-01440", "name is empty");
  std::wstring long_name(300, L'x');
  info.name = long_name.c_str();
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-01440",
                "name is more than 260 characters long");
}

TEST_F(Allocate, GlobalShareHandleThatIsNoValue) {
  auto info = Import(kKmt, nullptr);
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661", "handle is 0x0");
  info.handle = H(intptr_t{1} << 40);
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661", "nonzero 32-bit values");
}

TEST_F(Allocate, NtHandleThatIsNotOne) {
  auto info = Import(kNt, H(-7));
  ExpectRefused(&info, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661",
                "not a valid VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT handle");
}

class AllocateFromExport : public Allocate {
 protected:
  void SetUp() override {
    Allocate::SetUp();
    if (HasFatalFailure()) return;
    exporter = dev->AllocateExportable(kSize, kNt);
    handle = dev->GetHandle(exporter, kNt);
    ASSERT_NE(handle, nullptr);
  }
  void TearDown() override {
    if (handle != nullptr) close(static_cast<int>(reinterpret_cast<intptr_t>(handle)));
    if (dev && exporter != VK_NULL_HANDLE) dev->Free(exporter);
    Allocate::TearDown();
  }
  VkDeviceMemory exporter = VK_NULL_HANDLE;
  HANDLE handle = nullptr;
};

TEST_F(AllocateFromExport, AllocationSizeDiffersFromTheExporter) {
  auto info = Import(kNt, handle);
  ExpectRefused(&info, "VUID-VkMemoryAllocateInfo-allocationSize-01743",
                "pAllocateInfo->allocationSize is 32768 and memoryTypeIndex is", kSize / 2);
}

TEST_F(AllocateFromExport, MemoryTypeIndexDiffersFromTheExporter) {
  auto info = Import(kNt, handle);
  ExpectRefused(&info, "VUID-VkMemoryAllocateInfo-allocationSize-01743", "was exported from memory with",
                kSize, dev->HostVisibleType() + 1);
}

// Several live exports: each NT handle is traced to its own memory (by inode, or by open file description
// where every payload is one device node; VK_NTBRIDGE_EXTERNAL_WIN32_TEST_SHARED_PAYLOAD_IDS=1 tests that
// here), also when handles are imported in another order than they were exported.
TEST_F(Allocate, EachOfManyExportsIsTracedToItsOwnMemory) {
  constexpr int kCount = 9;
  std::vector<VkDeviceMemory> memories;
  std::vector<HANDLE> handles;
  for (int i = 0; i < kCount; ++i) {
    memories.push_back(dev->AllocateExportable(kSize * (i + 1), kNt));
    handles.push_back(dev->GetHandle(memories.back(), kNt));
    ASSERT_NE(handles.back(), nullptr);
  }
  for (int i : {4, 0, 8, 2, 7, 1, 5, 3, 6}) {
    auto info = Import(kNt, handles[i]);
    const VkDeviceSize exported = kSize * (i + 1);
    ExpectRefused(&info, "VUID-VkMemoryAllocateInfo-allocationSize-01743",
                  "was exported from memory with allocationSize " + std::to_string(exported),
                  exported + kSize);
    VkResult r = VK_ERROR_UNKNOWN;
    VkDeviceMemory imported = dev->ImportHandle(exported, kNt, handles[i], nullptr, &r);
    EXPECT_EQ(r, VK_SUCCESS) << i;
    dev->Free(imported);
  }
  for (int i = 0; i < kCount; ++i) {
    close(static_cast<int>(reinterpret_cast<intptr_t>(handles[i])));
    dev->Free(memories[i]);
  }
}

// What the layer keeps to trace NT handles to their exporter goes with the memory: once the application has
// closed its handle and freed the memory, no descriptor of the payload is left in the process (DESIGN.md §2),
// whether or not the handle was ever imported.
TEST_F(Allocate, NothingOfAnExportOutlivesItsMemory) {
  const int fds = CountOpenFds();
  for (bool import : {false, true}) {
    VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt);
    HANDLE handle = dev->GetHandle(memory, kNt);
    ASSERT_NE(handle, nullptr);
    if (import) dev->Free(dev->ImportHandle(kSize, kNt, handle));
    close(static_cast<int>(reinterpret_cast<intptr_t>(handle)));
    dev->Free(memory);
    EXPECT_EQ(CountOpenFds(), fds) << (import ? "imported once" : "never imported");
  }
}

TEST_F(AllocateFromExport, MatchingImportSucceeds) {
  VkResult r = VK_ERROR_UNKNOWN;
  VkDeviceMemory imported = dev->ImportHandle(kSize, kNt, handle, nullptr, &r);
  ASSERT_EQ(r, VK_SUCCESS);
  dev->WriteU32(exporter, 0x5eed);
  EXPECT_EQ(dev->ReadU32(imported), 0x5eedu);
  dev->Free(imported);
}

}  // namespace
}  // namespace ntbridge::test
