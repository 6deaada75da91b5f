// VK_KHR_external_semaphore_win32 and VK_KHR_external_fence_win32 through the real loader, ntbridge over the
// Khronos validation layer: one negative test per Valid Usage rule the layer checks at vkCreateSemaphore,
// vkCreateFence and vkGet*Win32HandleKHR, each expecting exactly that VUID, and vkGetDeviceProcAddr on
// devices without the extensions. Imports: test_sync_import.cpp; queue submissions: test_sync_submit.cpp;
// validation_action = report_only: test_sync_settings.cpp; valid usage: test_sync_positive.cpp.
#include <unistd.h>

#include <string>

#include "sync_validation_test.hpp"

namespace ntbridge::test {
namespace {

// A bit neither VkExternalSemaphoreHandleTypeFlagBits nor VkExternalFenceHandleTypeFlagBits defines.
constexpr uint32_t kUndefined = 1u << 30;

VkExternalSemaphoreProperties SemaphoreProps(VkPhysicalDevice gpu,
                                             VkExternalSemaphoreHandleTypeFlagBits bit) {
  VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO,
                                             nullptr, bit};
  VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
  vkGetPhysicalDeviceExternalSemaphoreProperties(gpu, &info, &props);
  return props;
}

VkExternalFenceProperties FenceProps(VkPhysicalDevice gpu, VkExternalFenceHandleTypeFlagBits bit) {
  VkPhysicalDeviceExternalFenceInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_FENCE_INFO, nullptr, bit};
  VkExternalFenceProperties props{VK_STRUCTURE_TYPE_EXTERNAL_FENCE_PROPERTIES};
  vkGetPhysicalDeviceExternalFenceProperties(gpu, &info, &props);
  return props;
}

// ---------------------------------------------------------------------------------------------------------
// vkCreateSemaphore and vkCreateFence with export structures

class SyncCreate : public SyncValidation {
 protected:
  // vkCreateSemaphore with `pnext` must fail with `vuid`, leave *pSemaphore alone and leak no descriptor.
  void ExpectSemaphoreRefused(const void* pnext, const char* vuid, const std::string& detail) {
    const int fds = CountOpenFds();
    VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, pnext, 0};
    VkSemaphore semaphore = VK_NULL_HANDLE;
    EXPECT_EQ(vkCreateSemaphore(device(), &info, nullptr, &semaphore), VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(semaphore, VK_NULL_HANDLE);
    EXPECT_EQ(CountOpenFds(), fds) << "a descriptor leaked";
    ExpectOnly(vuid, "vkCreateSemaphore", detail);
  }
  void ExpectFenceRefused(const void* pnext, const char* vuid, const std::string& detail) {
    const int fds = CountOpenFds();
    VkFenceCreateInfo info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, pnext, 0};
    VkFence fence = VK_NULL_HANDLE;
    EXPECT_EQ(vkCreateFence(device(), &info, nullptr, &fence), VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(fence, VK_NULL_HANDLE);
    EXPECT_EQ(CountOpenFds(), fds) << "a descriptor leaked";
    ExpectOnly(vuid, "vkCreateFence", detail);
  }
};

TEST_F(SyncCreate, SemaphoreHandleTypesUndefinedBit) {
  VkExportSemaphoreCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, nullptr, kSemNt | kUndefined};
  ExpectSemaphoreRefused(&e, "VUID-VkExportSemaphoreCreateInfo-handleTypes-parameter",
                         "pCreateInfo->pNext<VkExportSemaphoreCreateInfo>.handleTypes is 0x40000002");
}

TEST_F(SyncCreate, SemaphoreD3D12FenceIsNotSupported) {
  VkExportSemaphoreCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, nullptr, kSemD3D12};
  ExpectSemaphoreRefused(&e, "VUID-VkExportSemaphoreCreateInfo-handleTypes-01124",
                         "includes VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT");
  // Beside a supported type too, and for timeline semaphores: OPAQUE_WIN32, the lower bit, is compatible with
  // no Direct3D type.
  e.handleTypes = kSemNt | kSemD3D12;
  VkSemaphoreTypeCreateInfo t{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, &e, VK_SEMAPHORE_TYPE_TIMELINE,
                              0};
  ExpectSemaphoreRefused(&t, "VUID-VkExportSemaphoreCreateInfo-handleTypes-01124",
                         "which does not include VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT");
}

TEST_F(SyncCreate, SemaphoreHandleTypesNotCompatible) {
  auto props = SemaphoreProps(s->vk->gpu, kSemNt);
  ASSERT_NE(props.compatibleHandleTypes & kSemNt, 0u);
  if (props.compatibleHandleTypes & kSemSyncFd)
    GTEST_SKIP() << "OPAQUE_WIN32 is compatible with SYNC_FD here";
  VkExportSemaphoreCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, nullptr, kSemNt | kSemSyncFd};
  ExpectSemaphoreRefused(&e, "VUID-VkExportSemaphoreCreateInfo-handleTypes-01124",
                         "which does not include VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT");
}

TEST_F(SyncCreate, SemaphoreWin32InfoWithoutAnNtHandleType) {
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR};
  VkExportSemaphoreCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, &win32, kSemKmt};
  ExpectSemaphoreRefused(&e, "VUID-VkExportSemaphoreWin32HandleInfoKHR-handleTypes-01125",
                         "VkExportSemaphoreCreateInfo::handleTypes (0x4) does not include "
                         "VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT or "
                         "VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT");
  // Without any VkExportSemaphoreCreateInfo.
  ExpectSemaphoreRefused(&win32, "VUID-VkExportSemaphoreWin32HandleInfoKHR-handleTypes-01125",
                         "no VkExportSemaphoreCreateInfo");
}

TEST_F(SyncCreate, SemaphoreSecurityAttributesOfTheWrongSize) {
  SECURITY_ATTRIBUTES sa{0, nullptr, TRUE};
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            &sa};
  VkExportSemaphoreCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, &win32, kSemNt};
  ExpectSemaphoreRefused(&e, "VUID-VkExportSemaphoreWin32HandleInfoKHR-pAttributes-parameter",
                         "pAttributes->nLength is 0, not sizeof(SECURITY_ATTRIBUTES)");
}

TEST_F(SyncCreate, FenceHandleTypesUndefinedBit) {
  // 0x10 is a semaphore bit (D3D12_FENCE), not a fence bit.
  VkExportFenceCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, nullptr, kFenceNt | 0x10u};
  ExpectFenceRefused(&e, "VUID-VkExportFenceCreateInfo-handleTypes-parameter",
                     "pCreateInfo->pNext<VkExportFenceCreateInfo>.handleTypes is 0x12");
}

TEST_F(SyncCreate, FenceHandleTypesNotCompatible) {
  auto props = FenceProps(s->vk->gpu, kFenceNt);
  ASSERT_NE(props.compatibleHandleTypes & kFenceNt, 0u);
  if (props.compatibleHandleTypes & kFenceSyncFd)
    GTEST_SKIP() << "OPAQUE_WIN32 is compatible with SYNC_FD here";
  VkExportFenceCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, nullptr, kFenceNt | kFenceSyncFd};
  ExpectFenceRefused(&e, "VUID-VkExportFenceCreateInfo-handleTypes-01446",
                     "which does not include VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT");
}

TEST_F(SyncCreate, FenceWin32InfoWithoutAnNtHandleType) {
  VkExportFenceWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR};
  VkExportFenceCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, &win32, kFenceKmt};
  ExpectFenceRefused(&e, "VUID-VkExportFenceWin32HandleInfoKHR-handleTypes-01447",
                     "VkExportFenceCreateInfo::handleTypes (0x4) does not include "
                     "VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT");
  ExpectFenceRefused(&win32, "VUID-VkExportFenceWin32HandleInfoKHR-handleTypes-01447",
                     "no VkExportFenceCreateInfo");
}

TEST_F(SyncCreate, FenceSecurityAttributesOfTheWrongSize) {
  SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES) + 1, nullptr, FALSE};
  VkExportFenceWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr, &sa};
  VkExportFenceCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, &win32, kFenceNt};
  ExpectFenceRefused(&e, "VUID-VkExportFenceWin32HandleInfoKHR-pAttributes-parameter",
                     "pAttributes->nLength is " + std::to_string(sizeof(SECURITY_ATTRIBUTES) + 1));
}

// ---------------------------------------------------------------------------------------------------------
// vkGetSemaphoreWin32HandleKHR

constexpr const char* kGetSemaphore = "vkGetSemaphoreWin32HandleKHR";

class SyncGetSemaphore : public SyncValidation {
 protected:
  void SetUp() override {
    SyncValidation::SetUp();
    if (HasFatalFailure()) return;
    semaphore = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt | kSemKmt);
    ASSERT_NE(semaphore, VK_NULL_HANDLE);
  }
  void TearDown() override {
    if (s && semaphore != VK_NULL_HANDLE) vkDestroySemaphore(device(), semaphore, nullptr);
    SyncValidation::TearDown();
  }
  VkSemaphoreGetWin32HandleInfoKHR Info(VkExternalSemaphoreHandleTypeFlagBits type = kSemNt) const {
    return {VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR, nullptr, semaphore, type};
  }
  // The call must fail with `vuid` and leave *pHandle alone.
  void ExpectRefused(const VkSemaphoreGetWin32HandleInfoKHR* info, const char* vuid,
                     const std::string& detail, VkDevice on = VK_NULL_HANDLE) {
    HANDLE handle = H(0x1234);
    EXPECT_EQ(s->GetSemaphoreWin32HandleKHR(on != VK_NULL_HANDLE ? on : device(), info, &handle),
              VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(handle, H(0x1234));
    ExpectOnly(vuid, kGetSemaphore, detail);
  }
  VkSemaphore semaphore = VK_NULL_HANDLE;
};

TEST_F(SyncGetSemaphore, DeviceWithoutTheExtension) {
  VulkanDevice plain(*s->vk, {});
  ASSERT_EQ(plain.create_result, VK_SUCCESS);
  auto info = Info();
  ExpectRefused(&info, "VUID-vkGetSemaphoreWin32HandleKHR-device-parameter",
                "device was not created with VK_KHR_external_semaphore_win32 enabled", plain.device);
}

TEST_F(SyncGetSemaphore, NullGetWin32HandleInfo) {
  ExpectRefused(nullptr, "VUID-vkGetSemaphoreWin32HandleKHR-pGetWin32HandleInfo-parameter",
                "pGetWin32HandleInfo is NULL");
}

TEST_F(SyncGetSemaphore, WrongSType) {
  auto info = Info();
  info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR;
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-sType-sType",
                "not VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR");
}

TEST_F(SyncGetSemaphore, NonNullPNext) {
  VkExportSemaphoreCreateInfo stray{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO};
  auto info = Info();
  info.pNext = &stray;
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-pNext-pNext",
                "pGetWin32HandleInfo->pNext is 0x");
}

TEST_F(SyncGetSemaphore, NullPHandle) {
  auto info = Info();
  EXPECT_EQ(s->GetSemaphoreWin32HandleKHR(device(), &info, nullptr), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-vkGetSemaphoreWin32HandleKHR-pHandle-parameter", kGetSemaphore, "pHandle is NULL");
}

TEST_F(SyncGetSemaphore, UnknownSemaphore) {
  auto info = Info();
  info.semaphore = VK_NULL_HANDLE;
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-semaphore-parameter",
                "pGetWin32HandleInfo->semaphore 0x0 is not a live VkSemaphore of this device");
  info.semaphore = reinterpret_cast<VkSemaphore>(uintptr_t{0xdeadbeef});
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-semaphore-parameter",
                "0xdeadbeef is not a live");
  VkSemaphore destroyed = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  vkDestroySemaphore(device(), destroyed, nullptr);
  info.semaphore = destroyed;
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-semaphore-parameter",
                "is not a live VkSemaphore");
}

TEST_F(SyncGetSemaphore, SemaphoreOfAnotherDevice) {
  SyncDevice other;
  ASSERT_TRUE(other.ok()) << other.error;
  VkSemaphore foreign = other.Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  auto info = Info();
  info.semaphore = foreign;
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-semaphore-parameter",
                "is not a live VkSemaphore of this device");
  vkDestroySemaphore(other.dev->device, foreign, nullptr);
  EXPECT_TRUE(other.vk->monitor.Problems().empty());
}

TEST_F(SyncGetSemaphore, HandleTypeNotASingleValue) {
  auto info = Info(static_cast<VkExternalSemaphoreHandleTypeFlagBits>(0));
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-parameter", "handleType is 0");
  info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(kSemNt | kSemKmt);
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-parameter", "handleType is 0x6");
  info.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(kUndefined);
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-parameter",
                "handleType is 0x40000000");
}

TEST_F(SyncGetSemaphore, HandleTypeNotNtNorGlobalShare) {
  auto info = Info(kSemFd);
  ExpectRefused(
      &info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01131",
      "handleType is VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT, which is neither an NT handle "
      "nor a global share handle type");
  info.handleType = kSemSyncFd;
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01131",
                "VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT");
}

TEST_F(SyncGetSemaphore, HandleTypeNotExported) {
  VkSemaphore kmt_only = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemKmt);
  auto info = Info();
  info.semaphore = kmt_only;
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01126",
                "VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT, which was not included in "
                "VkExportSemaphoreCreateInfo::handleTypes (0x4)");
  VkSemaphore not_exportable = s->Semaphore();
  info = Info(kSemKmt);
  info.semaphore = not_exportable;
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01126",
                "VkExportSemaphoreCreateInfo::handleTypes (0x0)");
  info.handleType = kSemD3D12;
  info.semaphore = semaphore;
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01126",
                "VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT, which was not included");
  vkDestroySemaphore(device(), kmt_only, nullptr);
  vkDestroySemaphore(device(), not_exportable, nullptr);
}

TEST_F(SyncGetSemaphore, SecondNtHandleOfTheSameSemaphore) {
  HANDLE first = s->SemaphoreHandle(semaphore, kSemNt);
  ASSERT_GT(Fd(first), 0);
  EXPECT_TRUE(s->vk->monitor.Problems().empty());
  auto info = Info();
  ExpectRefused(&info, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01127", "already fetched");
  // KMT values may be fetched again, and another semaphore is another combination.
  HANDLE k1 = s->SemaphoreHandle(semaphore, kSemKmt);
  EXPECT_EQ(s->SemaphoreHandle(semaphore, kSemKmt), k1);
  VkSemaphore other = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE second = s->SemaphoreHandle(other, kSemNt);
  EXPECT_GT(Fd(second), 0);
  close(Fd(first));
  close(Fd(second));
  vkDestroySemaphore(device(), other, nullptr);
}

// ---------------------------------------------------------------------------------------------------------
// vkGetFenceWin32HandleKHR

constexpr const char* kGetFence = "vkGetFenceWin32HandleKHR";

class SyncGetFence : public SyncValidation {
 protected:
  void SetUp() override {
    SyncValidation::SetUp();
    if (HasFatalFailure()) return;
    fence = s->Fence(false, kFenceNt | kFenceKmt);
    ASSERT_NE(fence, VK_NULL_HANDLE);
  }
  void TearDown() override {
    if (s && fence != VK_NULL_HANDLE) vkDestroyFence(device(), fence, nullptr);
    SyncValidation::TearDown();
  }
  VkFenceGetWin32HandleInfoKHR Info(VkExternalFenceHandleTypeFlagBits type = kFenceNt) const {
    return {VK_STRUCTURE_TYPE_FENCE_GET_WIN32_HANDLE_INFO_KHR, nullptr, fence, type};
  }
  void ExpectRefused(const VkFenceGetWin32HandleInfoKHR* info, const char* vuid, const std::string& detail,
                     VkDevice on = VK_NULL_HANDLE) {
    HANDLE handle = H(0x1234);
    EXPECT_EQ(s->GetFenceWin32HandleKHR(on != VK_NULL_HANDLE ? on : device(), info, &handle),
              VK_ERROR_VALIDATION_FAILED_EXT);
    EXPECT_EQ(handle, H(0x1234));
    ExpectOnly(vuid, kGetFence, detail);
  }
  VkFence fence = VK_NULL_HANDLE;
};

TEST_F(SyncGetFence, DeviceWithoutTheExtension) {
  // Semaphores but not fences: the fence command is still refused.
  VulkanDevice semaphores_only(*s->vk, {"VK_KHR_external_semaphore_win32"});
  ASSERT_EQ(semaphores_only.create_result, VK_SUCCESS);
  auto info = Info();
  ExpectRefused(&info, "VUID-vkGetFenceWin32HandleKHR-device-parameter",
                "device was not created with VK_KHR_external_fence_win32 enabled", semaphores_only.device);
}

TEST_F(SyncGetFence, NullGetWin32HandleInfo) {
  ExpectRefused(nullptr, "VUID-vkGetFenceWin32HandleKHR-pGetWin32HandleInfo-parameter",
                "pGetWin32HandleInfo is NULL");
}

TEST_F(SyncGetFence, WrongSType) {
  auto info = Info();
  info.sType = VK_STRUCTURE_TYPE_FENCE_GET_FD_INFO_KHR;
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-sType-sType",
                "not VK_STRUCTURE_TYPE_FENCE_GET_WIN32_HANDLE_INFO_KHR");
}

TEST_F(SyncGetFence, NonNullPNext) {
  VkExportFenceCreateInfo stray{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO};
  auto info = Info();
  info.pNext = &stray;
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-pNext-pNext", "pGetWin32HandleInfo->pNext is 0x");
}

TEST_F(SyncGetFence, NullPHandle) {
  auto info = Info();
  EXPECT_EQ(s->GetFenceWin32HandleKHR(device(), &info, nullptr), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-vkGetFenceWin32HandleKHR-pHandle-parameter", kGetFence, "pHandle is NULL");
}

TEST_F(SyncGetFence, UnknownFence) {
  auto info = Info();
  info.fence = VK_NULL_HANDLE;
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-fence-parameter",
                "pGetWin32HandleInfo->fence 0x0 is not a live VkFence of this device");
  info.fence = reinterpret_cast<VkFence>(uintptr_t{0xdeadbeef});
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-fence-parameter", "0xdeadbeef is not a live");
  VkFence destroyed = s->Fence(false, kFenceNt);
  vkDestroyFence(device(), destroyed, nullptr);
  info.fence = destroyed;
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-fence-parameter", "is not a live VkFence");
}

TEST_F(SyncGetFence, HandleTypeNotASingleValue) {
  auto info = Info(static_cast<VkExternalFenceHandleTypeFlagBits>(0));
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-handleType-parameter", "handleType is 0");
  info.handleType = static_cast<VkExternalFenceHandleTypeFlagBits>(kFenceNt | kFenceKmt);
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-handleType-parameter", "handleType is 0x6");
  info.handleType = static_cast<VkExternalFenceHandleTypeFlagBits>(0x10);
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-handleType-parameter", "handleType is 0x10");
}

TEST_F(SyncGetFence, HandleTypeNotNtNorGlobalShare) {
  auto info = Info(kFenceFd);
  ExpectRefused(
      &info, "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01452",
      "handleType is VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT, which is neither an NT handle nor "
      "a global share handle type");
  info.handleType = kFenceSyncFd;
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01452",
                "VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT");
}

TEST_F(SyncGetFence, HandleTypeNotExported) {
  VkFence nt_only = s->Fence(false, kFenceNt);
  auto info = Info(kFenceKmt);
  info.fence = nt_only;
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01448",
                "VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT, which was not included in "
                "VkExportFenceCreateInfo::handleTypes (0x2)");
  VkFence not_exportable = s->Fence();
  info = Info();
  info.fence = not_exportable;
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01448",
                "VkExportFenceCreateInfo::handleTypes (0x0)");
  vkDestroyFence(device(), nt_only, nullptr);
  vkDestroyFence(device(), not_exportable, nullptr);
}

TEST_F(SyncGetFence, SecondNtHandleOfTheSameFence) {
  HANDLE first = s->FenceHandle(fence, kFenceNt);
  ASSERT_GT(Fd(first), 0);
  EXPECT_TRUE(s->vk->monitor.Problems().empty());
  auto info = Info();
  ExpectRefused(&info, "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01449", "already fetched");
  HANDLE k1 = s->FenceHandle(fence, kFenceKmt);
  EXPECT_EQ(s->FenceHandle(fence, kFenceKmt), k1);
  close(Fd(first));
}

// ---------------------------------------------------------------------------------------------------------
// vkGetDeviceProcAddr

TEST(SyncProcAddr, NullOnDevicesThatDidNotEnableTheExtensions) {
  VulkanInstance vk(InstanceOptions{.api_version = VK_API_VERSION_1_2});
  ASSERT_TRUE(vk.ok()) << vk.error;
  constexpr const char* kSemaphoreCommands[] = {"vkGetSemaphoreWin32HandleKHR",
                                                "vkImportSemaphoreWin32HandleKHR"};
  constexpr const char* kFenceCommands[] = {"vkGetFenceWin32HandleKHR", "vkImportFenceWin32HandleKHR"};
  {
    VulkanDevice plain(vk, {});
    ASSERT_EQ(plain.create_result, VK_SUCCESS);
    VulkanDevice memory_only(vk);
    ASSERT_EQ(memory_only.create_result, VK_SUCCESS);
    for (VkDevice d : {plain.device, memory_only.device}) {
      for (const char* name : kSemaphoreCommands) EXPECT_EQ(vkGetDeviceProcAddr(d, name), nullptr) << name;
      for (const char* name : kFenceCommands) EXPECT_EQ(vkGetDeviceProcAddr(d, name), nullptr) << name;
    }
  }
  {
    VulkanDevice semaphores(vk, {"VK_KHR_external_semaphore_win32"});
    ASSERT_EQ(semaphores.create_result, VK_SUCCESS);
    for (const char* name : kSemaphoreCommands)
      EXPECT_NE(vkGetDeviceProcAddr(semaphores.device, name), nullptr);
    for (const char* name : kFenceCommands)
      EXPECT_EQ(vkGetDeviceProcAddr(semaphores.device, name), nullptr) << name;
  }
  {
    VulkanDevice fences(vk, {"VK_KHR_external_fence_win32"});
    ASSERT_EQ(fences.create_result, VK_SUCCESS);
    for (const char* name : kSemaphoreCommands)
      EXPECT_EQ(vkGetDeviceProcAddr(fences.device, name), nullptr) << name;
    for (const char* name : kFenceCommands) EXPECT_NE(vkGetDeviceProcAddr(fences.device, name), nullptr);
  }
  EXPECT_TRUE(vk.monitor.Problems().empty()) << Describe(vk.monitor.Problems());
}

}  // namespace
}  // namespace ntbridge::test
