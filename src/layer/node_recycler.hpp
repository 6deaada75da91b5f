// Reuse of std::unordered_map nodes.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace ntbridge {

// Keeps a few emptied nodes of an unordered_map for reuse, so that a steady stream of allocations and frees
// costs no heap allocation per object (a node allocation is a large part of the layer's cost per call on
// drivers whose own vkAllocateMemory is a posix_memalign).
template <typename Map>
class NodeRecycler {
 public:
  // Inserts or assigns `key` -> `value` in `map`.
  template <typename V>
  void Put(Map& map, const typename Map::key_type& key, V&& value) {
    if (spare_.empty()) {
      map.insert_or_assign(key, std::forward<V>(value));
      return;
    }
    typename Map::node_type node = std::move(spare_.back());
    spare_.pop_back();
    node.key() = key;
    node.mapped() = std::forward<V>(value);
    auto result = map.insert(std::move(node));
    if (!result.inserted) {
      result.position->second = std::move(result.node.mapped());
      Keep(std::move(result.node));
    }
  }
  NodeRecycler() { spare_.reserve(kSpares); }  // so that keeping a node never allocates (or throws)

  // Removes the entry at `it` and returns its value.
  typename Map::mapped_type Take(Map& map, typename Map::iterator it) {
    typename Map::node_type node = map.extract(it);
    typename Map::mapped_type value = std::move(node.mapped());
    Keep(std::move(node));
    return value;
  }

 private:
  void Keep(typename Map::node_type node) {
    if (spare_.size() < kSpares) spare_.push_back(std::move(node));
  }
  static constexpr size_t kSpares = 64;
  std::vector<typename Map::node_type> spare_;
};

}  // namespace ntbridge
