// vkImportSemaphoreWin32HandleKHR and vkImportFenceWin32HandleKHR through the real loader, ntbridge over the
// Khronos validation layer: one negative test per Valid Usage rule the layer checks, each expecting exactly
// that VUID, no leaked descriptor and a failed command. 04448 (a fence with a pending submission) is in
// test_sync_submit.cpp.
#include <unistd.h>

#include <string>

#include "sync_validation_test.hpp"

namespace ntbridge::test {
namespace {

// ---------------------------------------------------------------------------------------------------------
// vkImportSemaphoreWin32HandleKHR

constexpr const char* kImportSemaphore = "vkImportSemaphoreWin32HandleKHR";

class SyncImportSemaphore : public SyncValidation {
 protected:
  void SetUp() override {
    SyncValidation::SetUp();
    if (HasFatalFailure()) return;
    target = s->Semaphore();
    ASSERT_NE(target, VK_NULL_HANDLE);
  }
  void TearDown() override {
    if (s && target != VK_NULL_HANDLE) vkDestroySemaphore(device(), target, nullptr);
    SyncValidation::TearDown();
  }
  VkImportSemaphoreWin32HandleInfoKHR Info(VkExternalSemaphoreHandleTypeFlagBits type, HANDLE handle,
                                           LPCWSTR name = nullptr) const {
    return {VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr, target, 0, type, handle, name};
  }
  // The import must fail with `vuid` and leak no descriptor.
  void ExpectRefused(const VkImportSemaphoreWin32HandleInfoKHR* info, const char* vuid,
                     const std::string& detail, VkDevice on = VK_NULL_HANDLE) {
    const int fds = CountOpenFds();
    EXPECT_EQ(s->ImportSemaphoreWin32HandleKHR(on != VK_NULL_HANDLE ? on : device(), info),
              VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(CountOpenFds(), fds) << "a descriptor leaked";
    ExpectOnly(vuid, kImportSemaphore, detail);
  }
  VkSemaphore target = VK_NULL_HANDLE;
};

TEST_F(SyncImportSemaphore, DeviceWithoutTheExtension) {
  // Fences but not semaphores.
  VulkanDevice fences_only(*s->vk, {"VK_KHR_external_fence_win32"});
  ASSERT_EQ(fences_only.create_result, VK_SUCCESS);
  auto info = Info(kSemNt, H(5));
  ExpectRefused(&info, "VUID-vkImportSemaphoreWin32HandleKHR-device-parameter",
                "device was not created with VK_KHR_external_semaphore_win32 enabled", fences_only.device);
}

TEST_F(SyncImportSemaphore, NullImportInfo) {
  ExpectRefused(nullptr, "VUID-vkImportSemaphoreWin32HandleKHR-pImportSemaphoreWin32HandleInfo-parameter",
                "pImportSemaphoreWin32HandleInfo is NULL");
}

TEST_F(SyncImportSemaphore, WrongSType) {
  auto info = Info(kSemNt, H(5));
  info.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR;
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-sType-sType",
                "pImportSemaphoreWin32HandleInfo->sType is");
}

TEST_F(SyncImportSemaphore, NonNullPNext) {
  VkSemaphoreTypeCreateInfo stray{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
  auto info = Info(kSemNt, H(5));
  info.pNext = &stray;
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-pNext-pNext",
                "pImportSemaphoreWin32HandleInfo->pNext is 0x");
}

TEST_F(SyncImportSemaphore, UnknownSemaphore) {
  auto info = Info(kSemNt, H(5));
  info.semaphore = reinterpret_cast<VkSemaphore>(uintptr_t{0xdeadbeef});
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-semaphore-parameter",
                "pImportSemaphoreWin32HandleInfo->semaphore 0xdeadbeef is not a live VkSemaphore");
  info.semaphore = VK_NULL_HANDLE;
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-semaphore-parameter", "0x0 is not a live");
}

TEST_F(SyncImportSemaphore, FlagsUndefinedBit) {
  auto info = Info(kSemNt, H(5));
  info.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT | 0x2u;
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-flags-parameter",
                "flags is 0x3, which has bits (0x2) that VkSemaphoreImportFlagBits does not define");
}

TEST_F(SyncImportSemaphore, HandleTypeNotInTheTable) {
  auto info = Info(kSemFd, H(5));
  ExpectRefused(
      &info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01140",
      "handleType is VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT, which is not in the Handle Types "
      "Supported by VkImportSemaphoreWin32HandleInfoKHR table");
  info.handleType = kSemSyncFd;
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01140",
                "VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT");
  info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(0);
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01140", "handleType is 0,");
  info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(kSemNt | kSemKmt);
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01140", "handleType is 0x6,");
}

TEST_F(SyncImportSemaphore, NameWithGlobalShareType) {
  auto info = Info(kSemKmt, nullptr, L"Local\\ntbridge-kmt");
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01466",
                "name is not NULL and handleType is VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT");
}

TEST_F(SyncImportSemaphore, NameThatNamesNothing) {
  auto info = Info(kSemNt, nullptr, L"");
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01467", "name is empty");
  std::wstring long_name(300, L'x');
  info.name = long_name.c_str();
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01467",
                "name is more than 260 characters long");
  // No name names a Direct3D 12 fence on Linux.
  info = Info(kSemD3D12, nullptr, L"Local\\ntbridge-d3d12");
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01467",
                "Direct3D 12 has no fences on Linux, so name names no Direct3D 12 fence");
}

TEST_F(SyncImportSemaphore, HandleThatIsNoneOfTheType) {
  auto info = Info(kSemNt, nullptr);
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468",
                "handle is NULL and name is NULL, so nothing is imported");
  info = Info(kSemKmt, nullptr);
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468",
                "handle is NULL and name is NULL");
  info = Info(kSemKmt, H(intptr_t{1} << 40));
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468",
                "global share handles are nonzero 32-bit values");
  info = Info(kSemNt, H(-1));  // INVALID_HANDLE_VALUE
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468",
                "NT handles are file descriptors, 1 to INT_MAX");
  info = Info(kSemD3D12, H(5));
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468",
                "Direct3D 12 has no fences on Linux, so handle is no Direct3D 12 fence");
}

TEST_F(SyncImportSemaphore, NtHandleThatIsNoOpenDescriptor) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  close(fds[1]);
  auto info = Info(kSemNt, H(fds[0]));
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468",
                "is not an open NT handle (descriptor) of this process");
}

TEST_F(SyncImportSemaphore, NtHandleThatIsNoSemaphorePayload) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  auto info = Info(kSemNt, H(fds[0]));
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468", "");
  close(fds[0]);
  close(fds[1]);
  // A fence's payload is not a semaphore's. The driver's opaque fds do not tell one from the other (NVIDIA
  // accepts the import): only the layer's shared payloads can be checked.
  if (DriverSemaphorePayload(s->vk->gpu, VK_SEMAPHORE_TYPE_BINARY)) return;
  VkFence fence = s->Fence(false, kFenceNt);
  HANDLE h = s->FenceHandle(fence, kFenceNt);
  info = Info(kSemNt, h);
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468", "");
  close(Fd(h));
  vkDestroyFence(device(), fence, nullptr);
}

TEST_F(SyncImportSemaphore, HandleAndName) {
  auto info = Info(kSemNt, H(5), L"Local\\ntbridge-both");
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handle-01469",
                "pImportSemaphoreWin32HandleInfo->handle is 0x5 and name is not NULL");
}

TEST_F(SyncImportSemaphore, SemaphoreTypeDiffersFromTheExporter) {
  // On a driver payload (NVIDIA) the exporter is found by open file description (issue 15), as on Mesa.
  // A timeline payload into a binary semaphore, and a binary payload into a timeline semaphore, by NT handle.
  VkSemaphore timeline = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 3, kSemNt);
  HANDLE th = s->SemaphoreHandle(timeline, kSemNt);
  auto info = Info(kSemNt, th);
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262",
                "of VkSemaphoreTypeCreateInfo::semaphoreType VK_SEMAPHORE_TYPE_TIMELINE, but "
                "pImportSemaphoreWin32HandleInfo->semaphore is of semaphoreType VK_SEMAPHORE_TYPE_BINARY");
  VkSemaphore binary = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE bh = s->SemaphoreHandle(binary, kSemNt);
  VkSemaphore timeline_target = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  info = Info(kSemNt, bh);
  info.semaphore = timeline_target;
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262",
                "of VkSemaphoreTypeCreateInfo::semaphoreType VK_SEMAPHORE_TYPE_BINARY, but "
                "pImportSemaphoreWin32HandleInfo->semaphore is of semaphoreType VK_SEMAPHORE_TYPE_TIMELINE");
  // The refused imports changed nothing: the timeline target still holds its own payload.
  EXPECT_EQ(s->Counter(timeline_target), 0u);
  close(Fd(th));
  close(Fd(bh));
  for (VkSemaphore x : {timeline, binary, timeline_target}) vkDestroySemaphore(device(), x, nullptr);
}

TEST_F(SyncImportSemaphore, SemaphoreTypeDiffersFromTheExporterByKmtValueAndName) {
  // The broker records the exporter's semaphore type for KMT values and names.
  std::wstring name = UniqueName("timeline");
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            nullptr, 0, name.c_str()};
  VkSemaphore timeline = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 1, kSemNt | kSemKmt, &win32);
  ASSERT_NE(timeline, VK_NULL_HANDLE);
  HANDLE kmt = s->SemaphoreHandle(timeline, kSemKmt);
  ASSERT_NE(kmt, nullptr);
  auto info = Info(kSemKmt, kmt);
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262",
                "pImportSemaphoreWin32HandleInfo->handle was exported from a semaphore of "
                "VkSemaphoreTypeCreateInfo::semaphoreType VK_SEMAPHORE_TYPE_TIMELINE");
  info = Info(kSemNt, nullptr, name.c_str());
  ExpectRefused(&info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262",
                "pImportSemaphoreWin32HandleInfo->name was exported from a semaphore of "
                "VkSemaphoreTypeCreateInfo::semaphoreType VK_SEMAPHORE_TYPE_TIMELINE");
  vkDestroySemaphore(device(), timeline, nullptr);
}

TEST_F(SyncImportSemaphore, TemporaryImportOfATimelinePayload) {
  // On a driver payload (NVIDIA) the exporter is found by open file description (issue 15), as on Mesa.
  VkSemaphore timeline = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 3, kSemNt);
  HANDLE h = s->SemaphoreHandle(timeline, kSemNt);
  VkSemaphore timeline_target = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  auto info = Info(kSemNt, h);
  info.semaphore = timeline_target;
  info.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT;
  ExpectRefused(
      &info, "VUID-VkImportSemaphoreWin32HandleInfoKHR-flags-03322",
      "flags includes VK_SEMAPHORE_IMPORT_TEMPORARY_BIT, but pImportSemaphoreWin32HandleInfo->handle "
      "was exported from a semaphore of semaphoreType VK_SEMAPHORE_TYPE_TIMELINE");
  EXPECT_EQ(s->Counter(timeline_target), 0u);
  // Permanently it is fine.
  info.flags = 0;
  EXPECT_EQ(s->ImportSemaphoreWin32HandleKHR(device(), &info), VK_SUCCESS);
  EXPECT_EQ(s->Counter(timeline_target), 3u);
  close(Fd(h));
  vkDestroySemaphore(device(), timeline, nullptr);
  vkDestroySemaphore(device(), timeline_target, nullptr);
}

// ---------------------------------------------------------------------------------------------------------
// vkImportFenceWin32HandleKHR

constexpr const char* kImportFence = "vkImportFenceWin32HandleKHR";

class SyncImportFence : public SyncValidation {
 protected:
  void SetUp() override {
    SyncValidation::SetUp();
    if (HasFatalFailure()) return;
    target = s->Fence();
    ASSERT_NE(target, VK_NULL_HANDLE);
  }
  void TearDown() override {
    if (s && target != VK_NULL_HANDLE) vkDestroyFence(device(), target, nullptr);
    SyncValidation::TearDown();
  }
  VkImportFenceWin32HandleInfoKHR Info(VkExternalFenceHandleTypeFlagBits type, HANDLE handle,
                                       LPCWSTR name = nullptr) const {
    return {VK_STRUCTURE_TYPE_IMPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr, target, 0, type, handle, name};
  }
  void ExpectRefused(const VkImportFenceWin32HandleInfoKHR* info, const char* vuid, const std::string& detail,
                     VkDevice on = VK_NULL_HANDLE) {
    const int fds = CountOpenFds();
    EXPECT_EQ(s->ImportFenceWin32HandleKHR(on != VK_NULL_HANDLE ? on : device(), info),
              VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(CountOpenFds(), fds) << "a descriptor leaked";
    ExpectOnly(vuid, kImportFence, detail);
  }
  VkFence target = VK_NULL_HANDLE;
};

TEST_F(SyncImportFence, DeviceWithoutTheExtension) {
  VulkanDevice plain(*s->vk, {});
  ASSERT_EQ(plain.create_result, VK_SUCCESS);
  auto info = Info(kFenceNt, H(5));
  ExpectRefused(&info, "VUID-vkImportFenceWin32HandleKHR-device-parameter",
                "device was not created with VK_KHR_external_fence_win32 enabled", plain.device);
}

TEST_F(SyncImportFence, NullImportInfo) {
  ExpectRefused(nullptr, "VUID-vkImportFenceWin32HandleKHR-pImportFenceWin32HandleInfo-parameter",
                "pImportFenceWin32HandleInfo is NULL");
}

TEST_F(SyncImportFence, WrongSType) {
  auto info = Info(kFenceNt, H(5));
  info.sType = VK_STRUCTURE_TYPE_IMPORT_FENCE_FD_INFO_KHR;
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-sType-sType",
                "pImportFenceWin32HandleInfo->sType is");
}

TEST_F(SyncImportFence, NonNullPNext) {
  VkExportFenceCreateInfo stray{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO};
  auto info = Info(kFenceNt, H(5));
  info.pNext = &stray;
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-pNext-pNext",
                "pImportFenceWin32HandleInfo->pNext is 0x");
}

TEST_F(SyncImportFence, UnknownFence) {
  auto info = Info(kFenceNt, H(5));
  info.fence = reinterpret_cast<VkFence>(uintptr_t{0xdeadbeef});
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-fence-parameter",
                "pImportFenceWin32HandleInfo->fence 0xdeadbeef is not a live VkFence");
  VkFence destroyed = s->Fence();
  vkDestroyFence(device(), destroyed, nullptr);
  info.fence = destroyed;
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-fence-parameter", "is not a live VkFence");
}

TEST_F(SyncImportFence, FlagsUndefinedBit) {
  auto info = Info(kFenceNt, H(5));
  info.flags = 0x2u;
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-flags-parameter",
                "flags is 0x2, which has bits (0x2) that VkFenceImportFlagBits does not define");
}

TEST_F(SyncImportFence, HandleTypeNotInTheTable) {
  auto info = Info(kFenceFd, H(5));
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01457",
                "handleType is VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT, which is not in the Handle Types "
                "Supported by VkImportFenceWin32HandleInfoKHR table");
  info.handleType = kFenceSyncFd;
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01457",
                "VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT");
  info.handleType = static_cast<VkExternalFenceHandleTypeFlagBits>(0);
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01457", "handleType is 0,");
}

TEST_F(SyncImportFence, NameWithGlobalShareType) {
  auto info = Info(kFenceKmt, nullptr, L"Local\\ntbridge-kmt");
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01459",
                "name is not NULL and handleType is VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT");
}

TEST_F(SyncImportFence, NameThatNamesNothing) {
  auto info = Info(kFenceNt, nullptr, L"");
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01460", "name is empty");
  std::wstring long_name(261, L'x');
  info.name = long_name.c_str();
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01460",
                "name is more than 260 characters long");
}

TEST_F(SyncImportFence, HandleThatIsNoneOfTheType) {
  auto info = Info(kFenceNt, nullptr);
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461",
                "handle is NULL and name is NULL, so nothing is imported");
  info = Info(kFenceKmt, H(intptr_t{1} << 40));
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461",
                "global share handles are nonzero 32-bit values");
  info = Info(kFenceNt, H(-1));
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461",
                "NT handles are file descriptors, 1 to INT_MAX");
  // A semaphore's payload is not a fence's (checkable on the layer's shared payloads only, as above).
  if (DriverSemaphorePayload(s->vk->gpu, VK_SEMAPHORE_TYPE_BINARY)) return;
  VkSemaphore semaphore = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(semaphore, kSemNt);
  info = Info(kFenceNt, h);
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461", "");
  close(Fd(h));
  vkDestroySemaphore(device(), semaphore, nullptr);
}

TEST_F(SyncImportFence, HandleAndName) {
  auto info = Info(kFenceNt, H(5), L"Local\\ntbridge-both");
  ExpectRefused(&info, "VUID-VkImportFenceWin32HandleInfoKHR-handle-01462",
                "pImportFenceWin32HandleInfo->handle is 0x5 and name is not NULL");
}

}  // namespace
}  // namespace ntbridge::test
