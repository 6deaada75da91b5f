// Valid usage of VK_KHR_external_semaphore_win32 and VK_KHR_external_fence_win32 goes through in silence,
// with the Khronos validation layer below checking what ntbridge sends (SyncTest fails on any message).
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "sync_validation_test.hpp"

namespace ntbridge::test {
namespace {

using SyncPositive = SyncValidation;

TEST_F(SyncPositive, TimelineExportedWithWin32InfoImportedEveryWay) {
  std::wstring name = UniqueName("positive-timeline");
  SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), nullptr, FALSE};
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            &sa, GENERIC_ALL, name.c_str()};
  VkSemaphore exporter = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 2, kSemNt | kSemKmt, &win32);
  ASSERT_NE(exporter, VK_NULL_HANDLE);
  HANDLE nt = s->SemaphoreHandle(exporter, kSemNt);
  HANDLE kmt = s->SemaphoreHandle(exporter, kSemKmt);
  EXPECT_EQ(s->SemaphoreHandle(exporter, kSemKmt), kmt) << "KMT values may be fetched again";
  VkSemaphore by_nt = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  VkSemaphore by_kmt = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  VkSemaphore by_name = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(by_nt, kSemNt, nt), VK_SUCCESS);
  ASSERT_EQ(s->ImportSemaphore(by_kmt, kSemKmt, kmt), VK_SUCCESS);
  ASSERT_EQ(s->ImportSemaphore(by_name, kSemNt, nullptr, name.c_str()), VK_SUCCESS);
  close(Fd(nt));
  ASSERT_EQ(s->HostSignal(exporter, 7), VK_SUCCESS);
  for (VkSemaphore x : {by_nt, by_kmt, by_name}) EXPECT_EQ(s->Counter(x), 7u);
  // A permanently imported payload may be exported again (exportFromImportedHandleTypes).
  HANDLE again = s->SemaphoreHandle(by_nt, kSemNt);
  EXPECT_GT(Fd(again), 0);
  close(Fd(again));
  for (VkSemaphore x : {exporter, by_nt, by_kmt, by_name}) vkDestroySemaphore(device(), x, nullptr);
}

TEST_F(SyncPositive, BinaryTemporaryImportEndsWithTheWait) {
  VkSemaphore exporter = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(exporter, kSemNt);
  VkSemaphore importer = s->Semaphore();
  ASSERT_EQ(s->ImportSemaphore(importer, kSemNt, h, nullptr, VK_SEMAPHORE_IMPORT_TEMPORARY_BIT), VK_SUCCESS);
  close(Fd(h));
  VkFence fence = s->Fence();
  ASSERT_EQ(s->Submit({}, {{exporter}}), VK_SUCCESS);
  ASSERT_EQ(s->Submit({{importer}}, {}, fence), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(fence, 5000 * kMs), VK_SUCCESS);
  // The permanent payload is back: the importer can be signalled and waited on by itself.
  ASSERT_EQ(vkResetFences(device(), 1, &fence), VK_SUCCESS);
  ASSERT_EQ(s->Submit({}, {{importer}}), VK_SUCCESS);
  ASSERT_EQ(s->Submit({{importer}}, {}, fence), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(fence, 5000 * kMs), VK_SUCCESS);
  vkDestroyFence(device(), fence, nullptr);
  vkDestroySemaphore(device(), exporter, nullptr);
  vkDestroySemaphore(device(), importer, nullptr);
}

TEST_F(SyncPositive, FenceExportedWithWin32InfoImportedEveryWay) {
  std::wstring name = UniqueName("positive-fence");
  SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  VkExportFenceWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr, &sa,
                                        GENERIC_ALL, name.c_str()};
  VkFence exporter = s->Fence(false, kFenceNt | kFenceKmt, &win32);
  ASSERT_NE(exporter, VK_NULL_HANDLE);
  HANDLE nt = s->FenceHandle(exporter, kFenceNt);
  EXPECT_EQ(fcntl(Fd(nt), F_GETFD) & FD_CLOEXEC, 0) << "bInheritHandle TRUE: an inheritable handle";
  HANDLE kmt = s->FenceHandle(exporter, kFenceKmt);
  VkFence by_nt = s->Fence();
  VkFence by_kmt = s->Fence(true);
  VkFence by_name = s->Fence();
  ASSERT_EQ(s->ImportFence(by_nt, kFenceNt, nt), VK_SUCCESS);
  ASSERT_EQ(s->ImportFence(by_kmt, kFenceKmt, kmt, nullptr, VK_FENCE_IMPORT_TEMPORARY_BIT), VK_SUCCESS);
  ASSERT_EQ(s->ImportFence(by_name, kFenceNt, nullptr, name.c_str()), VK_SUCCESS);
  close(Fd(nt));
  ASSERT_EQ(s->Submit({}, {}, exporter), VK_SUCCESS);
  VkFence all[] = {by_nt, by_kmt, by_name};
  EXPECT_EQ(vkWaitForFences(device(), 3, all, VK_TRUE, 5000 * kMs), VK_SUCCESS);
  for (VkFence x : {exporter, by_nt, by_kmt, by_name}) vkDestroyFence(device(), x, nullptr);
}

TEST_F(SyncPositive, ExportStructuresWithoutWin32Types) {
  // handleTypes 0 exports nothing, and is valid.
  VkExportSemaphoreCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, nullptr, 0};
  VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &e, 0};
  VkSemaphore semaphore = VK_NULL_HANDLE;
  ASSERT_EQ(vkCreateSemaphore(device(), &info, nullptr, &semaphore), VK_SUCCESS);
  vkDestroySemaphore(device(), semaphore, nullptr);
  VkExportFenceCreateInfo fe{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, nullptr, 0};
  VkFenceCreateInfo finfo{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, &fe, 0};
  VkFence fence = VK_NULL_HANDLE;
  ASSERT_EQ(vkCreateFence(device(), &finfo, nullptr, &fence), VK_SUCCESS);
  vkDestroyFence(device(), fence, nullptr);
}

TEST_F(SyncPositive, OneNtHandlePerObject) {
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
  VkFence f = s->Fence(false, kFenceNt);
  HANDLE ha = s->SemaphoreHandle(a, kSemNt);
  HANDLE hb = s->SemaphoreHandle(b, kSemNt);
  HANDLE hf = s->FenceHandle(f, kFenceNt);
  EXPECT_NE(ha, hb);
  for (HANDLE h : {ha, hb, hf}) {
    EXPECT_GT(Fd(h), 0);
    close(Fd(h));
  }
  vkDestroySemaphore(device(), a, nullptr);
  vkDestroySemaphore(device(), b, nullptr);
  vkDestroyFence(device(), f, nullptr);
}

TEST_F(SyncPositive, DestroyingNullObjectsIsFine) {
  vkDestroySemaphore(device(), VK_NULL_HANDLE, nullptr);
  vkDestroyFence(device(), VK_NULL_HANDLE, nullptr);
}

}  // namespace
}  // namespace ntbridge::test
