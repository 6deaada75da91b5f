// pNext chains: finding a structure, and a private copy of an input chain that the layer may edit.
#pragma once

#include <cstddef>
#include <memory>

#include "vk_win32.hpp"

namespace ntbridge {

// Longest chain the layer walks; a longer one (or a cycle) is refused rather than followed forever.
inline constexpr int kMaxChainLength = 128;

// sizeof the structure with this sType in the installed headers, or 0 when it is not one of them.
size_t StructSize(VkStructureType type);

// The first structure of `type` in the chain, or nullptr. Stops after kMaxChainLength links.
const VkBaseInStructure* FindInChain(const void* chain, VkStructureType type);

template <typename T>
const T* FindInChain(const void* chain, VkStructureType type) {
  return reinterpret_cast<const T*>(FindInChain(chain, type));
}

// True when the chain ends within kMaxChainLength links.
bool ChainIsBounded(const void* chain);

// A copy of an application's input chain. Every structure of known size is copied into storage the copy
// owns, so structures can be edited, removed or added without touching the application's memory. A
// structure whose size is unknown (a newer header's) ends the copy: it and what follows are linked as they
// are, and cannot be edited.
class ChainCopy {
 public:
  explicit ChainCopy(const void* chain);
  ChainCopy(const ChainCopy&) = delete;
  ChainCopy& operator=(const ChainCopy&) = delete;

  // False when the chain was longer than kMaxChainLength (or cyclic).
  bool ok() const { return ok_; }

  const void* head() const { return head_; }

  // The copied structure of `type`, editable, or nullptr when there is none (or it lies past an unknown one).
  template <typename T>
  T* Find(VkStructureType type) {
    return reinterpret_cast<T*>(FindCopied(type));
  }

  // Unlinks every copied structure of `type`.
  void Remove(VkStructureType type);

  // Links `s` (owned by the caller, alive while the copy is used) at the front of the chain.
  void Prepend(VkBaseOutStructure* s);

 private:
  VkBaseOutStructure* FindCopied(VkStructureType type);

  static constexpr size_t kInlineBytes = 512;
  alignas(16) std::byte inline_[kInlineBytes];
  std::unique_ptr<std::byte[]> heap_;
  VkBaseOutStructure* head_ = nullptr;
  VkBaseOutStructure* last_copied_ = nullptr;
  bool ok_ = true;
};

}  // namespace ntbridge
