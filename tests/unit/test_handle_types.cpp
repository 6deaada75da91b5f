#include <gtest/gtest.h>

#include "handle_types.hpp"

namespace ntbridge {
namespace {

TEST(HandleTypes, Win32OpaqueTypesBecomeTheFdType) {
  EXPECT_EQ(ToDriverTypes(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT),
            static_cast<VkExternalMemoryHandleTypeFlags>(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT));
  EXPECT_EQ(ToDriverTypes(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT |
                          VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT),
            static_cast<VkExternalMemoryHandleTypeFlags>(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT |
                                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT));
  EXPECT_EQ(ToDriverTypes(VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT),
            static_cast<VkExternalMemoryHandleTypeFlags>(VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT));
}

TEST(HandleTypes, FdAnswersIncludeTheWin32Types) {
  EXPECT_EQ(FromDriverTypes(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT),
            VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT | kOpaqueWin32Types);
  EXPECT_EQ(FromDriverTypes(0), 0u);
  EXPECT_EQ(FromDriverTypes(VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT),
            static_cast<VkExternalMemoryHandleTypeFlags>(VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT));
}

TEST(HandleTypes, Names) {
  EXPECT_STREQ(HandleTypeName(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT),
               "VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT");
  EXPECT_STREQ(HandleTypeName(0x3), "0x3");
}

}  // namespace
}  // namespace ntbridge
