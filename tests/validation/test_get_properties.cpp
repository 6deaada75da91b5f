// vkGetMemoryWin32HandlePropertiesKHR: one negative test per VUID the layer checks.
#include <unistd.h>

#include "validation_test.hpp"

namespace ntbridge::test {
namespace {

constexpr const char* kCmd = "vkGetMemoryWin32HandlePropertiesKHR";

class GetProperties : public ValidationTest {
 protected:
  VkResult Call(VkExternalMemoryHandleTypeFlagBits type, HANDLE handle,
                VkMemoryWin32HandlePropertiesKHR* out) {
    return dev->GetMemoryWin32HandlePropertiesKHR(dev->device, type, handle, out);
  }
  VkMemoryWin32HandlePropertiesKHR props{VK_STRUCTURE_TYPE_MEMORY_WIN32_HANDLE_PROPERTIES_KHR};
};

TEST_F(GetProperties, DeviceWithoutTheExtension) {
  VulkanDevice plain(*vk, {});
  ASSERT_EQ(plain.create_result, VK_SUCCESS);
  EXPECT_EQ(dev->GetMemoryWin32HandlePropertiesKHR(plain.device, kD3D11, H(5), &props),
            VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-vkGetMemoryWin32HandlePropertiesKHR-device-parameter", kCmd,
             "VK_KHR_external_memory_win32");
}

TEST_F(GetProperties, DeviceOfAnInstanceWithoutNtbridge) {
  VulkanInstance other(InstanceOptions{.ntbridge = false, .validation = false});
  ASSERT_TRUE(other.ok()) << other.error;
  VulkanDevice foreign(other, {});
  ASSERT_EQ(foreign.create_result, VK_SUCCESS);
  testing::internal::CaptureStderr();
  EXPECT_EQ(dev->GetMemoryWin32HandlePropertiesKHR(foreign.device, kD3D11, H(5), &props),
            VK_ERROR_VALIDATION_FAILED_EXT);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("ERROR: VUID-vkGetMemoryWin32HandlePropertiesKHR-device-parameter"), std::string::npos)
      << err;
}

TEST_F(GetProperties, HandleTypeNotAValue) {
  EXPECT_EQ(Call(static_cast<VkExternalMemoryHandleTypeFlagBits>(0), H(5), &props),
            VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-vkGetMemoryWin32HandlePropertiesKHR-handleType-parameter", kCmd, "handleType is 0,");
  EXPECT_EQ(Call(kUndefinedBit, H(5), &props), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-vkGetMemoryWin32HandlePropertiesKHR-handleType-parameter", kCmd,
             "handleType is 0x40000000");
}

TEST_F(GetProperties, NullProperties) {
  EXPECT_EQ(Call(kD3D11, H(5), nullptr), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-vkGetMemoryWin32HandlePropertiesKHR-pMemoryWin32HandleProperties-parameter", kCmd,
             "pMemoryWin32HandleProperties is NULL");
}

TEST_F(GetProperties, WrongSType) {
  props.sType = VK_STRUCTURE_TYPE_MEMORY_FD_PROPERTIES_KHR;
  EXPECT_EQ(Call(kD3D11, H(5), &props), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-VkMemoryWin32HandlePropertiesKHR-sType-sType", kCmd,
             "pMemoryWin32HandleProperties->sType is");
}

TEST_F(GetProperties, NonNullPNext) {
  VkMemoryFdPropertiesKHR stray{VK_STRUCTURE_TYPE_MEMORY_FD_PROPERTIES_KHR};
  props.pNext = &stray;
  EXPECT_EQ(Call(kD3D11, H(5), &props), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-VkMemoryWin32HandlePropertiesKHR-pNext-pNext", kCmd,
             "pMemoryWin32HandleProperties->pNext is 0x");
}

TEST_F(GetProperties, OpaqueTypes) {
  for (auto type : {kNt, kKmt, kFd}) {
    EXPECT_EQ(Call(type, H(5), &props), VK_ERROR_VALIDATION_FAILED_EXT);
    ExpectOnly("VUID-vkGetMemoryWin32HandlePropertiesKHR-handleType-00666", kCmd, "an opaque type");
  }
}

TEST_F(GetProperties, HandleMadeByVulkan) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt);
  HANDLE handle = dev->GetHandle(memory, kNt);
  ASSERT_NE(handle, nullptr);
  EXPECT_EQ(Call(kD3D11, handle, &props), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-vkGetMemoryWin32HandlePropertiesKHR-handle-00665", kCmd,
             "exported by vkGetMemoryWin32HandleKHR");
  close(static_cast<int>(reinterpret_cast<intptr_t>(handle)));
  dev->Free(memory);
}

TEST_F(GetProperties, ValidCallOnLinuxFindsNoDirect3DResource) {
  // Valid usage, but no Direct3D resource exists on Linux: an error code and a warning, no VUID.
  EXPECT_EQ(Call(kD3D11, H(5), &props), VK_ERROR_INVALID_EXTERNAL_HANDLE);
  auto messages = vk->monitor.Take();
  ASSERT_EQ(messages.size(), 1u) << Describe(messages);
  EXPECT_EQ(messages[0].id, "ntbridge-no-d3d");
  EXPECT_EQ(messages[0].severity, VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT);
}

}  // namespace
}  // namespace ntbridge::test
