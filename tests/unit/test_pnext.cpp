// The pNext chain copy: pure, no driver.
#include <gtest/gtest.h>

#include "pnext.hpp"

namespace ntbridge {
namespace {

TEST(StructSize, KnowsWin32AndCoreStructures) {
  EXPECT_EQ(StructSize(VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR),
            sizeof(VkImportMemoryWin32HandleInfoKHR));
  EXPECT_EQ(StructSize(VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO), sizeof(VkExportMemoryAllocateInfo));
  EXPECT_EQ(StructSize(static_cast<VkStructureType>(0x7fff0001)), 0u);
}

TEST(ChainCopy, EditsDoNotTouchTheOriginal) {
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &dedicated,
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  ChainCopy copy(&export_info);
  ASSERT_TRUE(copy.ok());
  auto* e = copy.Find<VkExportMemoryAllocateInfo>(VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(static_cast<const void*>(e), static_cast<const void*>(&export_info));
  e->handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  EXPECT_EQ(export_info.handleTypes,
            static_cast<VkExternalMemoryHandleTypeFlags>(VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT));
  EXPECT_NE(FindInChain(copy.head(), VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO), nullptr);
}

TEST(ChainCopy, RemoveAndPrepend) {
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
  VkImportMemoryWin32HandleInfoKHR import_info{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
                                               &dedicated};
  VkMemoryPriorityAllocateInfoEXT priority{VK_STRUCTURE_TYPE_MEMORY_PRIORITY_ALLOCATE_INFO_EXT, &import_info};
  ChainCopy copy(&priority);
  copy.Remove(VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
  EXPECT_EQ(FindInChain(copy.head(), VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR), nullptr);
  EXPECT_NE(FindInChain(copy.head(), VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO), nullptr);
  EXPECT_NE(FindInChain(copy.head(), VK_STRUCTURE_TYPE_MEMORY_PRIORITY_ALLOCATE_INFO_EXT), nullptr);
  VkImportMemoryFdInfoKHR fd{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR};
  copy.Prepend(reinterpret_cast<VkBaseOutStructure*>(&fd));
  EXPECT_EQ(copy.head(), &fd);
  // The original chain is intact.
  EXPECT_EQ(priority.pNext, &import_info);
  EXPECT_EQ(import_info.pNext, &dedicated);
}

TEST(ChainCopy, RemoveFirstAndLast) {
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, &dedicated};
  ChainCopy first(&win32);
  first.Remove(VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
  ASSERT_NE(first.head(), nullptr);
  EXPECT_EQ(static_cast<const VkBaseInStructure*>(first.head())->sType,
            VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO);
  EXPECT_EQ(static_cast<const VkBaseInStructure*>(first.head())->pNext, nullptr);
  ChainCopy last(&win32);
  last.Remove(VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO);
  EXPECT_EQ(static_cast<const VkBaseInStructure*>(last.head())->pNext, nullptr);
}

TEST(ChainCopy, UnknownStructureEndsTheCopy) {
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO};
  VkBaseInStructure unknown{static_cast<VkStructureType>(0x7fff0001),
                            reinterpret_cast<VkBaseInStructure*>(&export_info)};
  ChainCopy copy(&unknown);
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy.head(), &unknown);
  EXPECT_EQ(copy.Find<VkExportMemoryAllocateInfo>(VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO), nullptr);
}

TEST(ChainCopy, CyclesAndOverlongChainsAreRefused) {
  VkExportMemoryAllocateInfo a{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO};
  VkMemoryDedicatedAllocateInfo b{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, &a};
  a.pNext = &b;
  EXPECT_FALSE(ChainCopy(&a).ok());
  EXPECT_FALSE(ChainIsBounded(&a));
  std::vector<VkMemoryDedicatedAllocateInfo> many(kMaxChainLength + 1);
  for (size_t i = 0; i < many.size(); ++i) {
    many[i].sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO;
    many[i].pNext = i + 1 < many.size() ? &many[i + 1] : nullptr;
  }
  EXPECT_FALSE(ChainCopy(many.data()).ok());
  EXPECT_TRUE(ChainCopy(&many[1]).ok());
  // A cycle behind a structure the layer does not know is refused too: the copy stops there, the walk not.
  VkBaseInStructure unknown{static_cast<VkStructureType>(0x7fff0001),
                            reinterpret_cast<VkBaseInStructure*>(&a)};
  EXPECT_FALSE(ChainCopy(&unknown).ok());
}

TEST(ChainCopy, LongChainsUseTheHeap) {
  std::vector<VkExportMemoryWin32HandleInfoKHR> many(40);
  for (size_t i = 0; i < many.size(); ++i) {
    many[i].sType = VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR;
    many[i].dwAccess = static_cast<DWORD>(i);
    many[i].pNext = i + 1 < many.size() ? &many[i + 1] : nullptr;
  }
  ChainCopy copy(many.data());
  ASSERT_TRUE(copy.ok());
  int n = 0;
  for (auto* s = static_cast<const VkExportMemoryWin32HandleInfoKHR*>(copy.head()); s != nullptr;
       s = static_cast<const VkExportMemoryWin32HandleInfoKHR*>(s->pNext), ++n) {
    EXPECT_EQ(s->dwAccess, static_cast<DWORD>(n));
  }
  EXPECT_EQ(n, 40);
}

}  // namespace
}  // namespace ntbridge
