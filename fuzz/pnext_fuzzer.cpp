// libFuzzer target: arbitrary pNext chains — known, unknown and repeated sTypes, cycles, self-links — through
// ChainCopy and the chain walkers. The application's chain must never be written, and the copy must stay
// bounded.
#include <cstdint>
#include <cstring>
#include <vector>

#include "handle_types.hpp"
#include "pnext.hpp"

namespace {

// sTypes the layer edits, plus neighbours; anything else comes from the raw input.
constexpr VkStructureType kInteresting[] = {
    VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
    VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
    VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
    VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO,
    VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR,
    VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
    VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO,
    VK_STRUCTURE_TYPE_MEMORY_PRIORITY_ALLOCATE_INFO_EXT,
    VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_IMAGE_FORMAT_INFO,
};

constexpr size_t kSlot = 256;  // room for the largest structure of the chain
constexpr size_t kMaxNodes = 160;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t nodes = std::min<size_t>(data[0] % kMaxNodes + 1, kMaxNodes);
  ++data;
  --size;
  std::vector<uint8_t> arena(nodes * kSlot, 0);
  auto node = [&](size_t i) { return reinterpret_cast<VkBaseOutStructure*>(&arena[i * kSlot]); };
  for (size_t i = 0; i < nodes; ++i) {
    // 4 bytes per node: type selector, link selector, two payload bytes.
    uint8_t t = size > 0 ? data[0] : 0, l = size > 1 ? data[1] : 0, p0 = size > 2 ? data[2] : 0,
            p1 = size > 3 ? data[3] : 0;
    size_t used = std::min<size_t>(size, 4);
    data += used;
    size -= used;
    VkBaseOutStructure* s = node(i);
    size_t n = sizeof kInteresting / sizeof kInteresting[0];
    s->sType = t < 200 ? kInteresting[t % n] : static_cast<VkStructureType>(0x7fff0000u + p0);
    std::memset(reinterpret_cast<uint8_t*>(s) + sizeof(VkBaseOutStructure), p1,
                kSlot - sizeof(VkBaseOutStructure));
    // Mostly the next node, sometimes the end, sometimes anywhere (cycles, self-links).
    if (l < 200) {
      s->pNext = i + 1 < nodes ? node(i + 1) : nullptr;
    } else if (l < 220) {
      s->pNext = nullptr;
    } else {
      s->pNext = node(l % nodes);
    }
  }
  const std::vector<uint8_t> before = arena;
  ntbridge::ChainCopy copy(node(0));
  if (ntbridge::ChainIsBounded(node(0)) != copy.ok()) __builtin_trap();
  if (copy.ok()) {
    if (!ntbridge::ChainIsBounded(copy.head())) __builtin_trap();
    if (auto* e = copy.Find<VkExportMemoryAllocateInfo>(VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO)) {
      e->handleTypes = ntbridge::ToDriverTypes(e->handleTypes);
    }
    copy.Remove(VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
    copy.Remove(VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
    VkImportMemoryFdInfoKHR fd{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR};
    copy.Prepend(reinterpret_cast<VkBaseOutStructure*>(&fd));
    // Prepending may make a chain of the maximum length one longer; what follows the new head stays bounded.
    if (copy.head() != &fd || !ntbridge::ChainIsBounded(fd.pNext)) __builtin_trap();
    // Removed structures are gone from the copied part.
    if (copy.Find<VkBaseOutStructure>(VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR) != nullptr) {
      __builtin_trap();
    }
  }
  (void)ntbridge::FindInChain(node(0), VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
  // The application's chain is untouched.
  if (arena != before) __builtin_trap();
  return 0;
}
