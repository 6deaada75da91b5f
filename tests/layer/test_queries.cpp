// Capability queries answer for the Win32 types from what the driver supports for its opaque fd type.
#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkExternalMemoryHandleTypeFlags kOpaqueWin32 =
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT | VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

VkExternalMemoryProperties BufferProperties(VkPhysicalDevice gpu, VkExternalMemoryHandleTypeFlagBits type) {
  VkPhysicalDeviceExternalBufferInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
  info.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  info.handleType = type;
  VkExternalBufferProperties props{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
  vkGetPhysicalDeviceExternalBufferProperties(gpu, &info, &props);
  return props.externalMemoryProperties;
}

class Queries : public LayerTest {};

TEST_F(Queries, BufferOpaqueWin32FollowsTheFdType) {
  auto fd = BufferProperties(vk->gpu, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
  for (auto type : {VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT,
                    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT}) {
    auto w = BufferProperties(vk->gpu, type);
    EXPECT_EQ(w.externalMemoryFeatures, fd.externalMemoryFeatures);
    EXPECT_TRUE(w.externalMemoryFeatures & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT);
    EXPECT_TRUE(w.externalMemoryFeatures & VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT);
    EXPECT_EQ(w.compatibleHandleTypes & kOpaqueWin32, kOpaqueWin32);
    EXPECT_EQ(w.exportFromImportedHandleTypes & kOpaqueWin32, kOpaqueWin32);
  }
  // The fd type's own answer now names the Win32 types it is compatible with.
  EXPECT_EQ(fd.compatibleHandleTypes & kOpaqueWin32, kOpaqueWin32);
}

TEST_F(Queries, BufferD3DTypesAreUnsupported) {
  for (auto type :
       {VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT,
        VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_KMT_BIT, VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT,
        VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT}) {
    auto p = BufferProperties(vk->gpu, type);
    EXPECT_EQ(p.externalMemoryFeatures, 0u);
    EXPECT_EQ(p.compatibleHandleTypes, 0u);
    EXPECT_EQ(p.exportFromImportedHandleTypes, 0u);
  }
}

VkResult ImageProperties(VkPhysicalDevice gpu, VkFormat format, VkExternalMemoryHandleTypeFlagBits type,
                         VkExternalImageFormatProperties* out) {
  VkPhysicalDeviceExternalImageFormatInfo external{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_IMAGE_FORMAT_INFO, nullptr, type};
  VkPhysicalDeviceImageFormatInfo2 info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_IMAGE_FORMAT_INFO_2, &external};
  info.format = format;
  info.type = VK_IMAGE_TYPE_2D;
  info.tiling = VK_IMAGE_TILING_OPTIMAL;
  info.usage = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_SAMPLED_BIT;
  *out = {VK_STRUCTURE_TYPE_EXTERNAL_IMAGE_FORMAT_PROPERTIES};
  VkImageFormatProperties2 props{VK_STRUCTURE_TYPE_IMAGE_FORMAT_PROPERTIES_2, out};
  return vkGetPhysicalDeviceImageFormatProperties2(gpu, &info, &props);
}

TEST_F(Queries, ImageOpaqueWin32FollowsTheFdType) {
  VkExternalImageFormatProperties fd{}, w{};
  ASSERT_EQ(
      ImageProperties(vk->gpu, VK_FORMAT_R8G8B8A8_UNORM, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT, &fd),
      VK_SUCCESS);
  for (auto type : {VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT,
                    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT}) {
    ASSERT_EQ(ImageProperties(vk->gpu, VK_FORMAT_R8G8B8A8_UNORM, type, &w), VK_SUCCESS);
    EXPECT_EQ(w.externalMemoryProperties.externalMemoryFeatures,
              fd.externalMemoryProperties.externalMemoryFeatures);
    EXPECT_EQ(w.externalMemoryProperties.compatibleHandleTypes & kOpaqueWin32, kOpaqueWin32);
    EXPECT_EQ(w.externalMemoryProperties.exportFromImportedHandleTypes & kOpaqueWin32, kOpaqueWin32);
  }
}

TEST_F(Queries, ImageD3DTypesAreUnsupported) {
  VkExternalImageFormatProperties p{};
  EXPECT_EQ(ImageProperties(vk->gpu, VK_FORMAT_R8G8B8A8_UNORM,
                            VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT, &p),
            VK_ERROR_FORMAT_NOT_SUPPORTED);
  EXPECT_EQ(ImageProperties(vk->gpu, VK_FORMAT_R8G8B8A8_UNORM,
                            VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT, &p),
            VK_ERROR_FORMAT_NOT_SUPPORTED);
}

TEST_F(Queries, HandlePropertiesOfD3DHandleIsInvalidExternalHandle) {
  VkMemoryWin32HandlePropertiesKHR props{VK_STRUCTURE_TYPE_MEMORY_WIN32_HANDLE_PROPERTIES_KHR};
  EXPECT_EQ(
      dev->GetMemoryWin32HandlePropertiesKHR(dev->device, VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT,
                                             reinterpret_cast<HANDLE>(0x40), &props),
      VK_ERROR_INVALID_EXTERNAL_HANDLE);
  auto messages = vk->monitor.Take();
  ASSERT_EQ(messages.size(), 1u) << Describe(messages);
  EXPECT_NE(messages[0].text.find("Direct3D"), std::string::npos);
}

}  // namespace
}  // namespace ntbridge::test
