// vkCreateBuffer / vkCreateImage with VkExternalMemoryBufferCreateInfo / VkExternalMemoryImageCreateInfo.
#include "validation_test.hpp"

namespace ntbridge::test {
namespace {

class Resources : public ValidationTest {
 protected:
  VkResult CreateBuffer(VkExternalMemoryHandleTypeFlags types) {
    VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                         types};
    VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &ext};
    info.size = 4096;
    info.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
    VkBuffer buffer = VK_NULL_HANDLE;
    VkResult r = vkCreateBuffer(dev->device, &info, nullptr, &buffer);
    if (buffer != VK_NULL_HANDLE) vkDestroyBuffer(dev->device, buffer, nullptr);
    return r;
  }
  VkResult CreateImage(VkExternalMemoryHandleTypeFlags types) {
    VkExternalMemoryImageCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO, nullptr, types};
    VkImageCreateInfo info{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO, &ext};
    info.imageType = VK_IMAGE_TYPE_2D;
    info.format = VK_FORMAT_R8G8B8A8_UNORM;
    info.extent = {64, 64, 1};
    info.mipLevels = 1;
    info.arrayLayers = 1;
    info.samples = VK_SAMPLE_COUNT_1_BIT;
    info.tiling = VK_IMAGE_TILING_OPTIMAL;
    info.usage = VK_IMAGE_USAGE_SAMPLED_BIT;
    info.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    VkImage image = VK_NULL_HANDLE;
    VkResult r = vkCreateImage(dev->device, &info, nullptr, &image);
    if (image != VK_NULL_HANDLE) vkDestroyImage(dev->device, image, nullptr);
    return r;
  }
};

TEST_F(Resources, BufferHandleTypesUndefinedBit) {
  EXPECT_EQ(CreateBuffer(kUndefinedBit), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-VkExternalMemoryBufferCreateInfo-handleTypes-parameter", "vkCreateBuffer",
             "pCreateInfo->pNext<VkExternalMemoryBufferCreateInfo>.handleTypes is 0x40000000");
  EXPECT_EQ(CreateBuffer(kNt | kUndefinedBit), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-VkExternalMemoryBufferCreateInfo-handleTypes-parameter", "vkCreateBuffer", "0x40000002");
}

TEST_F(Resources, ImageHandleTypesUndefinedBit) {
  EXPECT_EQ(CreateImage(kNt | kUndefinedBit), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-VkExternalMemoryImageCreateInfo-handleTypes-parameter", "vkCreateImage",
             "pCreateInfo->pNext<VkExternalMemoryImageCreateInfo>.handleTypes is 0x40000002");
}

TEST_F(Resources, BufferDirect3DTypes) {
  EXPECT_EQ(CreateBuffer(VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-VkBufferCreateInfo-pNext-00920", "vkCreateBuffer",
             "includes VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT");
}

TEST_F(Resources, ImageDirect3DTypes) {
  EXPECT_EQ(CreateImage(kNt | kD3D11), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOnly("VUID-VkImageCreateInfo-pNext-00990", "vkCreateImage",
             "includes VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT");
}

TEST_F(Resources, OpaqueWin32BufferAndImageAreValid) {
  EXPECT_EQ(CreateBuffer(kNt | kKmt), VK_SUCCESS);
  EXPECT_EQ(CreateImage(kNt), VK_SUCCESS);
  // TearDown checks that neither ntbridge nor the Khronos layer below said anything.
}

}  // namespace
}  // namespace ntbridge::test
