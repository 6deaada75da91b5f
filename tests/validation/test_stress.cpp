// Thousands of invalid calls leave the layer intact: no descriptor leaks, every call refused and reported,
// and export and import still work afterwards. 6000 calls, or as many as NTBRIDGE_STRESS_SECONDS allow (at
// least 600: a hundred of each kind).
#include <unistd.h>

#include <map>

#include "stress_budget.hpp"
#include "validation_test.hpp"

namespace ntbridge::test {
namespace {

using Stress = ValidationTest;

TEST_F(Stress, LongRunOfInvalidCallsThenValidExportAndImport) {
  constexpr int kKinds = 6;
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt);
  HANDLE first = dev->GetHandle(memory, kNt);
  ASSERT_NE(first, nullptr);
  const int fds = CountOpenFds();

  int refused = 0;
  StressBudget budget("invalid calls", 6000, 100 * kKinds);
  for (int i = 0; budget.Continue(i); ++i) {
    VkResult r = VK_SUCCESS;
    HANDLE h = nullptr;
    switch (i % kKinds) {
      case 0:
        r = GetHandle(nullptr, &h);
        break;
      case 1: {
        VkMemoryGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                           reinterpret_cast<VkDeviceMemory>(uintptr_t{0x10000} + i), kNt};
        r = GetHandle(&info, &h);
        break;
      }
      case 2: {
        VkMemoryGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                           memory, kNt};
        r = GetHandle(&info, &h);
        break;
      }
      case 3: {
        VkDeviceMemory m = dev->ImportHandle(kSize, kNt, H(100000 + i), nullptr, &r);
        EXPECT_EQ(m, VK_NULL_HANDLE);
        break;
      }
      case 4: {
        VkExportMemoryAllocateInfo info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr,
                                        VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT};
        VkDeviceMemory m = VK_NULL_HANDLE;
        r = Allocate(&info, &m);
        break;
      }
      case 5: {
        VkMemoryWin32HandlePropertiesKHR props{VK_STRUCTURE_TYPE_MEMORY_WIN32_HANDLE_PROPERTIES_KHR};
        r = dev->GetMemoryWin32HandlePropertiesKHR(dev->device, kNt, first, &props);
        break;
      }
    }
    EXPECT_EQ(h, nullptr);
    if (r == VK_ERROR_VALIDATION_FAILED_EXT) ++refused;
    budget.Completed();
  }
  budget.Report();
  const int calls = budget.completed();
  ASSERT_GE(calls, budget.floor());
  EXPECT_EQ(refused, calls);
  EXPECT_EQ(CountOpenFds(), fds) << "descriptors leaked";
  std::map<std::string, int> by_vuid;
  for (const auto& m : vk->monitor.Take()) {
    EXPECT_EQ(m.severity, VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT);
    ++by_vuid[m.id];
  }
  // How many calls of kind k were made: those with i % kKinds == k.
  auto of_kind = [&](int k) { return calls / kKinds + (k < calls % kKinds ? 1 : 0); };
  const std::map<std::string, int> expected = {
      {"VUID-vkGetMemoryWin32HandleKHR-pGetWin32HandleInfo-parameter", of_kind(0)},
      {"VUID-VkMemoryGetWin32HandleInfoKHR-memory-parameter", of_kind(1)},
      {"VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663", of_kind(2)},
      {"VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661", of_kind(3)},
      {"VUID-VkExportMemoryAllocateInfo-handleTypes-00656", of_kind(4)},
      {"VUID-vkGetMemoryWin32HandlePropertiesKHR-handleType-00666", of_kind(5)},
  };
  EXPECT_EQ(by_vuid, expected);

  // Still whole: the handle fetched before imports, a new export exports, and data flows both ways.
  VkDeviceMemory imported = dev->ImportHandle(kSize, kNt, first, nullptr);
  ASSERT_NE(imported, VK_NULL_HANDLE);
  dev->WriteU32(memory, 0x600d);
  EXPECT_EQ(dev->ReadU32(imported), 0x600du);
  VkDeviceMemory again = dev->AllocateExportable(kSize, kNt);
  HANDLE second = dev->GetHandle(again, kNt);
  VkDeviceMemory imported_again = dev->ImportHandle(kSize, kNt, second, nullptr);
  ASSERT_NE(imported_again, VK_NULL_HANDLE);
  dev->WriteU32(imported_again, 0xbeef);
  EXPECT_EQ(dev->ReadU32(again), 0xbeefu);
  for (VkDeviceMemory m : {imported, imported_again, again, memory}) dev->Free(m);
  close(static_cast<int>(reinterpret_cast<intptr_t>(first)));
  close(static_cast<int>(reinterpret_cast<intptr_t>(second)));
}

}  // namespace
}  // namespace ntbridge::test
