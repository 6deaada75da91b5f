// What the layer records of each VkDeviceMemory it saw allocated, exported or imported.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "node_recycler.hpp"
#include "vk_win32.hpp"

namespace ntbridge {

struct MemoryRecord {
  VkDeviceSize allocation_size = 0;
  uint32_t memory_type_index = 0;
  // VkExportMemoryAllocateInfo::handleTypes as the application gave them (Win32 bits included).
  VkExternalMemoryHandleTypeFlags export_types = 0;
  // The handle type this memory was imported from, or 0.
  VkExternalMemoryHandleTypeFlags import_type = 0;
  bool dedicated = false;
  // VkExportMemoryWin32HandleInfoKHR, when present.
  bool has_win32_export_info = false;
  bool inherit_handle = false;
  DWORD access = 0;
  std::wstring name;
  // NT handle types already fetched with vkGetMemoryWin32HandleKHR (VUID-...-handleType-00663).
  VkExternalMemoryHandleTypeFlags nt_handles_fetched = 0;
  // UniquePayloadId of the payload once exported as an NT handle (validation/exported_payloads.hpp), or 0.
  uint64_t exported_payload = 0;
  // Where the payload has no identity of its own (one device node for every payload): the duplicate of the
  // exported NT handle that RecordExportedDescription keeps, or -1.
  int exported_description = -1;
  // The global share (KMT) value of the payload, once known.
  uint32_t kmt = 0;
  // Identity of the payload from the broker (named / KMT shares), or 0.
  uint64_t broker_payload = 0;
};

// Records of one device's memory objects. Thread-safe; records are copied out, never referenced.
class MemoryTable {
 public:
  void Add(VkDeviceMemory memory, MemoryRecord record) {
    std::lock_guard lock(mutex_);
    nodes_.Put(records_, memory, std::move(record));
  }
  std::optional<MemoryRecord> Find(VkDeviceMemory memory) const {
    std::lock_guard lock(mutex_);
    auto it = records_.find(memory);
    if (it == records_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<MemoryRecord> Remove(VkDeviceMemory memory) {
    std::lock_guard lock(mutex_);
    auto it = records_.find(memory);
    if (it == records_.end()) return std::nullopt;
    return nodes_.Take(records_, it);
  }
  // Applies `f` to the record under the lock; false when the memory is unknown.
  template <typename F>
  bool Update(VkDeviceMemory memory, F&& f) {
    std::lock_guard lock(mutex_);
    auto it = records_.find(memory);
    if (it == records_.end()) return false;
    f(it->second);
    return true;
  }
  // Applies `f` to every record under the lock.
  template <typename F>
  void ForEach(F&& f) {
    std::lock_guard lock(mutex_);
    for (auto& [memory, record] : records_) f(memory, record);
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return records_.size();
  }

 private:
  using Map = std::unordered_map<VkDeviceMemory, MemoryRecord>;
  mutable std::mutex mutex_;
  Map records_;
  NodeRecycler<Map> nodes_;  // guarded by mutex_
};

}  // namespace ntbridge
