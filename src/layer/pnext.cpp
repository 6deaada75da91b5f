#include "pnext.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace ntbridge {
namespace {

struct SizeRow {
  VkStructureType type;
  size_t size;
};

constexpr SizeRow kSizeRows[] = {
#include "struct_sizes.inc"
};

constexpr auto kSortedSizes = [] {
  std::array<SizeRow, std::size(kSizeRows)> rows{};
  std::copy(std::begin(kSizeRows), std::end(kSizeRows), rows.begin());
  std::sort(rows.begin(), rows.end(), [](const SizeRow& a, const SizeRow& b) { return a.type < b.type; });
  return rows;
}();

constexpr size_t AlignUp(size_t n) { return (n + 15) & ~size_t{15}; }

}  // namespace

size_t StructSize(VkStructureType type) {
  auto it = std::lower_bound(kSortedSizes.begin(), kSortedSizes.end(), type,
                             [](const SizeRow& row, VkStructureType t) { return row.type < t; });
  return (it != kSortedSizes.end() && it->type == type) ? it->size : 0;
}

const VkBaseInStructure* FindInChain(const void* chain, VkStructureType type) {
  auto* s = static_cast<const VkBaseInStructure*>(chain);
  for (int i = 0; s != nullptr && i < kMaxChainLength; ++i, s = s->pNext) {
    if (s->sType == type) return s;
  }
  return nullptr;
}

bool ChainIsBounded(const void* chain) {
  auto* s = static_cast<const VkBaseInStructure*>(chain);
  for (int i = 0; i <= kMaxChainLength; ++i, s = s->pNext) {
    if (s == nullptr) return true;
  }
  return false;
}

ChainCopy::ChainCopy(const void* chain) {
  // First pass: bounded length, and how much room the known structures take (their sizes are kept for the
  // second pass: the size table is a binary search).
  size_t sizes[kMaxChainLength];
  int known = 0;
  size_t total = 0;
  auto* s = static_cast<const VkBaseInStructure*>(chain);
  bool counting = true;
  for (int i = 0; s != nullptr; ++i, s = s->pNext) {
    if (i == kMaxChainLength) {
      ok_ = false;
      return;
    }
    if (!counting) continue;
    size_t size = StructSize(s->sType);
    if (size == 0) {
      counting = false;  // what follows is linked as it is, but the walk goes on to check the length
      continue;
    }
    sizes[known++] = size;
    total += AlignUp(size);
  }
  std::byte* storage = inline_;
  if (total > kInlineBytes) {
    heap_ = std::make_unique<std::byte[]>(total);
    storage = heap_.get();
  }
  // Second pass: copy and relink.
  VkBaseOutStructure** link = &head_;
  s = static_cast<const VkBaseInStructure*>(chain);
  for (int i = 0; i < known; ++i, s = s->pNext) {
    auto* copy = reinterpret_cast<VkBaseOutStructure*>(storage);
    std::memcpy(copy, s, sizes[i]);
    storage += AlignUp(sizes[i]);
    *link = copy;
    link = &copy->pNext;
    last_copied_ = copy;
  }
  // The unknown remainder is linked as it is.
  *link = const_cast<VkBaseOutStructure*>(reinterpret_cast<const VkBaseOutStructure*>(s));
}

VkBaseOutStructure* ChainCopy::FindCopied(VkStructureType type) {
  if (last_copied_ == nullptr) return nullptr;
  for (VkBaseOutStructure* s = head_; s != nullptr; s = s->pNext) {
    if (s->sType == type) return s;
    if (s == last_copied_) break;
  }
  return nullptr;
}

void ChainCopy::Remove(VkStructureType type) {
  if (last_copied_ == nullptr) return;
  VkBaseOutStructure** link = &head_;
  VkBaseOutStructure* prev = nullptr;
  while (*link != nullptr) {
    VkBaseOutStructure* s = *link;
    bool copied = true;
    // Structures past last_copied_ belong to the application.
    if (prev == last_copied_) copied = false;
    if (!copied) break;
    if (s->sType == type) {
      *link = s->pNext;
      if (s == last_copied_) last_copied_ = prev;
      continue;
    }
    prev = s;
    link = &s->pNext;
  }
}

void ChainCopy::Prepend(VkBaseOutStructure* s) {
  s->pNext = head_;
  head_ = s;
  if (last_copied_ == nullptr) last_copied_ = s;
}

}  // namespace ntbridge
