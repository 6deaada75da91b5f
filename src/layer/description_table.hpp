// Values kept by open file description: what identifies an exported payload where its descriptors do not
// (every payload of NVIDIA's driver is a descriptor of /dev/nvidiactl, so fstat tells them apart by nothing).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nt_handle.hpp"

namespace ntbridge {

// A table from open file descriptions to values. Each entry owns a descriptor of its description (a
// duplicate the caller made of the exported one): it keeps the description, and so its kcmp order, from
// being reused while the entry lives, and is closed when the entry is forgotten. Entries are grouped in
// buckets (the device number of the payload's node) and ordered within a bucket by
// CompareOpenFileDescriptions, so a lookup costs O(log n) kcmp calls, never a scan of every export.
// Ordering an entry is left to the first lookup in its bucket after it was added: adding and forgetting make
// no kcmp call (an export stays as cheap as the driver's own), and an entry never looked for is never
// ordered.
//
// Not thread-safe: the owner holds a lock around every call.
template <typename Value>
class DescriptionTable {
 public:
  DescriptionTable() = default;
  DescriptionTable(const DescriptionTable&) = delete;
  DescriptionTable& operator=(const DescriptionTable&) = delete;
  ~DescriptionTable() {
    for (auto& [kept, entry] : entries_) close(kept);
  }

  // Takes `kept`, a descriptor of the description to remember, with its value. Several entries may hold the
  // same description (a driver that exports one description for two memory objects): a lookup finds one.
  void Add(int kept, uint64_t bucket, const Value& value) {
    Bucket& b = buckets_.try_emplace(bucket, &matched_).first->second;
    entries_.insert_or_assign(kept, Entry{value, bucket, std::nullopt, b.pending.size()});
    b.pending.push_back(kept);
  }

  // The value of an entry holding the open file description of `fd`, or nullptr. The pointer is valid until
  // the next call.
  const Value* Find(int fd, uint64_t bucket) {
    auto b = buckets_.find(bucket);
    if (b == buckets_.end()) return nullptr;
    Order(b->second);
    // lower_bound compares with the element it returns, and kcmp answers "equal" on that comparison when the
    // element holds fd's description: one kcmp fewer than find's separate test for equality.
    matched_ = -1;
    auto it = b->second.ordered.lower_bound(fd);
    if (it == b->second.ordered.end() || matched_ != *it) return nullptr;
    return &entries_.at(*it).value;
  }

  // Forgets the entry of `kept` (as given to Add) and closes it.
  void Forget(int kept) {
    auto e = entries_.find(kept);
    if (e == entries_.end()) return;
    auto b = buckets_.find(e->second.bucket);
    if (e->second.position) {
      b->second.ordered.erase(*e->second.position);
    } else {
      std::vector<int>& pending = b->second.pending;
      const size_t index = e->second.pending_index;
      pending[index] = pending.back();
      entries_.at(pending[index]).pending_index = index;
      pending.pop_back();
    }
    if (b->second.ordered.empty() && b->second.pending.empty()) buckets_.erase(b);
    entries_.erase(e);
    close(kept);
  }

  size_t size() const { return entries_.size(); }

 private:
  struct ByDescription {
    // A descriptor that cannot be compared (closed by the application meanwhile) is less than anything
    // either way round, so a lookup of it finds nothing. Kept descriptors are open and comparable for as
    // long as they are kept, so the order among them is a true one.
    bool operator()(int a, int b) const {
      const int c = CompareOpenFileDescriptions(a, b);
      if (c == 0) *matched = a;  // lower_bound(fd) calls (element, fd)
      return c == -1 || (c == kIncomparable && a != b);
    }
    int* matched;  // the table's matched_
  };
  using Ordered = std::multiset<int, ByDescription>;
  struct Entry {
    Value value;
    uint64_t bucket = 0;
    std::optional<typename Ordered::iterator> position;  // once ordered
    size_t pending_index = 0;                            // until then: its place in Bucket::pending
  };
  struct Bucket {
    explicit Bucket(int* matched) : ordered(ByDescription{matched}) {}
    Ordered ordered;
    std::vector<int> pending;  // added since the last lookup in this bucket, not yet ordered
  };

  void Order(Bucket& b) {
    for (int kept : b.pending) entries_.at(kept).position = b.ordered.insert(kept);
    b.pending.clear();
  }

  int matched_ = -1;                        // the last element a comparison found equal (ByDescription)
  std::unordered_map<int, Entry> entries_;  // by kept descriptor
  std::unordered_map<uint64_t, Bucket> buckets_;
};

}  // namespace ntbridge
