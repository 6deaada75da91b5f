// What the layer records of each VkSemaphore and VkFence that can carry a Win32 payload: how it was created
// (export types, VkExport*Win32HandleInfoKHR), what was fetched from it, and which payload it holds now
// (its own, a permanent import, or a temporary import). Semaphores and fences share one record type: the
// handle model (DESIGN.md §2, §7) is the same for both.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "vk_win32.hpp"

namespace ntbridge {

namespace shared_payload {
class SyncState;
}
class ExportedSyncDescription;

enum class SyncKind : uint8_t { kSemaphore, kFence };

// Where a sync object's payload lives (DESIGN.md §7).
enum class SyncPayload : uint8_t {
  kDriver,  // the driver's own sync object (VK_KHR_external_semaphore_fd / _fence_fd, opaque fd)
  kShared,  // the layer's shared payload: a sealed memfd page (src/layer/shared_payload/)
};

// One payload a sync object can hold: for kShared the mapped page; for kDriver nothing beyond the driver's
// object (an import replaced the driver object's payload in place).
struct SyncPayloadRef {
  SyncPayload kind = SyncPayload::kDriver;
  std::shared_ptr<shared_payload::SyncState> shared;  // kShared only
  // The handle type it came from when imported (VK_EXTERNAL_*_HANDLE_TYPE_OPAQUE_WIN32[_KMT]_BIT), else 0.
  uint32_t import_type = 0;
  // Identity of the payload at the broker (named / KMT shares), or 0.
  uint64_t broker_payload = 0;
  uint32_t kmt = 0;
  // kDriver, once exported as an NT handle: the duplicate that traces imports of that handle back to this
  // object (validation/exported_payloads.hpp), let go with the last copy of this reference.
  std::shared_ptr<const ExportedSyncDescription> exported;
};

struct SyncRecord {
  SyncKind kind = SyncKind::kSemaphore;
  // Semaphores: VkSemaphoreTypeCreateInfo::semaphoreType (binary unless given) and initialValue.
  VkSemaphoreType semaphore_type = VK_SEMAPHORE_TYPE_BINARY;
  uint64_t initial_value = 0;
  // VkSemaphoreCreateInfo::flags / VkFenceCreateInfo::flags.
  uint32_t create_flags = 0;
  // VkExportSemaphoreCreateInfo::handleTypes / VkExportFenceCreateInfo::handleTypes as the application gave
  // them (Win32 bits included). 0: the object was not made exportable.
  uint32_t export_types = 0;
  // VkExportSemaphoreWin32HandleInfoKHR / VkExportFenceWin32HandleInfoKHR, when present.
  bool has_win32_export_info = false;
  bool inherit_handle = false;
  DWORD access = 0;
  std::wstring name;
  // NT handle types already fetched with vkGet*Win32HandleKHR (VUID-...-handleType-01127 / -01449).
  uint32_t nt_handles_fetched = 0;
  // The payload the object holds permanently: its own (exported or not) or a permanent import.
  SyncPayloadRef permanent;
  // A temporary import in effect (VK_SEMAPHORE_IMPORT_TEMPORARY_BIT / VK_FENCE_IMPORT_TEMPORARY_BIT), until
  // the spec restores `permanent`: the next wait on a binary semaphore, the next reset or wait of a fence.
  std::optional<SyncPayloadRef> temporary;
  // Fences: a queue submission signals this fence and has not been seen complete (VUID-
  // vkImportFenceWin32HandleKHR-fence-04448).
  bool fence_pending = false;

  const SyncPayloadRef& current() const { return temporary ? *temporary : permanent; }
};

// Records of one device's semaphores or fences. Thread-safe; records are copied out or updated under the
// lock, never referenced outside it.
template <typename Handle>
class SyncTable {
 public:
  void Add(Handle h, SyncRecord record) {
    std::lock_guard lock(mutex_);
    records_.insert_or_assign(h, std::move(record));
    count_.store(records_.size(), std::memory_order_relaxed);
  }
  std::optional<SyncRecord> Find(Handle h) const {
    std::lock_guard lock(mutex_);
    auto it = records_.find(h);
    if (it == records_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<SyncRecord> Remove(Handle h) {
    std::lock_guard lock(mutex_);
    auto it = records_.find(h);
    if (it == records_.end()) return std::nullopt;
    SyncRecord r = std::move(it->second);
    records_.erase(it);
    count_.store(records_.size(), std::memory_order_relaxed);
    return r;
  }
  // Applies `f` to the record under the lock; false when the object is unknown.
  template <typename F>
  bool Update(Handle h, F&& f) {
    std::lock_guard lock(mutex_);
    auto it = records_.find(h);
    if (it == records_.end()) return false;
    f(it->second);
    return true;
  }
  // Lock-free: whether any object is recorded (the fast path of every queue submission asks this).
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }
  template <typename F>
  void ForEach(F&& f) {
    std::lock_guard lock(mutex_);
    for (auto& [h, r] : records_) f(h, r);
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<Handle, SyncRecord> records_;
  std::atomic<size_t> count_{0};
};

}  // namespace ntbridge
