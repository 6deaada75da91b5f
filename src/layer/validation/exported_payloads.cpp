#include "validation/exported_payloads.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "description_table.hpp"
#include "node_recycler.hpp"
#include "nt_handle.hpp"

namespace ntbridge {
namespace {

using Map = std::unordered_map<uint64_t, ExportedPayload>;
std::mutex g_mutex;
Map& Table() {
  static auto* table = new Map;  // outlives every static destructor
  return *table;
}
NodeRecycler<Map>& Nodes() {  // guarded by g_mutex
  static auto* nodes = new NodeRecycler<Map>;
  return *nodes;
}
// Descriptions of exported NT handles, for one kind of value: memory, or semaphores and fences.
template <typename Value>
struct Kept {
  std::mutex mutex;
  DescriptionTable<Value> table;  // guarded by mutex
  // How many are recorded: while 0 (for memory: every driver whose descriptors identify their payloads) an
  // import looks no further.
  std::atomic<size_t> count{0};
};
Kept<ExportedPayload>& KeptMemory() {
  static auto* kept = new Kept<ExportedPayload>;  // outlives every static destructor
  return *kept;
}
Kept<SyncExporter>& KeptSync() {
  static auto* kept = new Kept<SyncExporter>;
  return *kept;
}
// Descriptors kept in both tables.
std::atomic<size_t> g_kept_total{0};
// -1 not known yet, 0 kcmp refused, 1 permitted.
std::atomic<int> g_comparable{-1};

// At most a quarter of the descriptor limit the process had at its first record is spent on kept duplicates.
size_t MaxKept() {
  static const size_t max_kept = [] {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return size_t{1} << 20;
    return std::max<size_t>(16, static_cast<size_t>(limit.rlim_cur / 4));
  }();
  return max_kept;
}

template <typename Value>
int Record(Kept<Value>& kept, int fd, uint64_t node, const Value& value) {
  if (g_comparable.load(std::memory_order_relaxed) == 0) return -1;
  if (g_kept_total.load(std::memory_order_relaxed) >= MaxKept()) return -1;
  const int duplicate = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (duplicate < 0) return -1;
  if (g_comparable.load(std::memory_order_acquire) == -1) {
    // The first record learns whether kcmp works here: a descriptor must equal its duplicate.
    g_comparable.store(CompareOpenFileDescriptions(fd, duplicate) == 0 ? 1 : 0, std::memory_order_release);
    if (g_comparable.load(std::memory_order_relaxed) == 0) {
      close(duplicate);
      return -1;
    }
  }
  std::lock_guard lock(kept.mutex);
  kept.table.Add(duplicate, node, value);
  kept.count.store(kept.table.size(), std::memory_order_relaxed);
  g_kept_total.fetch_add(1, std::memory_order_relaxed);
  return duplicate;
}

template <typename Value>
void Forget(Kept<Value>& kept, int duplicate) {
  if (duplicate < 0) return;
  std::lock_guard lock(kept.mutex);
  const size_t before = kept.table.size();
  kept.table.Forget(duplicate);
  kept.count.store(kept.table.size(), std::memory_order_relaxed);
  g_kept_total.fetch_sub(before - kept.table.size(), std::memory_order_relaxed);
}

// The value recorded for fd's description; the caller holds kept.mutex.
template <typename Value>
std::optional<Value> FindLocked(Kept<Value>& kept, int fd, uint64_t node) {
  if (const Value* found = kept.table.Find(fd, node)) return *found;
  return std::nullopt;
}

}  // namespace

uint64_t UniquePayloadId(const struct stat& st) {
  if (S_ISCHR(st.st_mode)) return 0;
  return (static_cast<uint64_t>(st.st_dev) << 40) ^ static_cast<uint64_t>(st.st_ino);  // = PayloadId(fd)
}

uint64_t UniquePayloadId(int fd) {
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) return 0;
  return UniquePayloadId(st);
}

void RecordExportedPayload(uint64_t id, const ExportedPayload& payload) {
  if (id == 0) return;
  std::lock_guard lock(g_mutex);
  Nodes().Put(Table(), id, payload);
}

void ForgetExportedPayload(uint64_t id) {
  std::lock_guard lock(g_mutex);
  if (auto it = Table().find(id); it != Table().end()) Nodes().Take(Table(), it);
}

int RecordExportedDescription(int fd, uint64_t node, const ExportedPayload& payload) {
  return Record(KeptMemory(), fd, node, payload);
}

void ForgetExportedDescription(int kept) { Forget(KeptMemory(), kept); }

bool ExportedDescriptionsComparable() { return g_comparable.load(std::memory_order_relaxed) != 0; }

std::optional<ExportedPayload> FindExportedPayload(int fd, const struct stat& st) {
  if (const uint64_t id = UniquePayloadId(st); id != 0) {
    std::lock_guard lock(g_mutex);
    if (auto it = Table().find(id); it != Table().end()) return it->second;
  }
  Kept<ExportedPayload>& kept = KeptMemory();
  if (kept.count.load(std::memory_order_relaxed) == 0) return std::nullopt;
  std::lock_guard lock(kept.mutex);
  return FindLocked(kept, fd, static_cast<uint64_t>(st.st_rdev));
}

ExportedSyncDescription::~ExportedSyncDescription() { Forget(KeptSync(), kept_); }

std::shared_ptr<const ExportedSyncDescription> RecordExportedSyncPayload(int fd,
                                                                         const SyncExporter& exporter) {
  const int kept = Record(KeptSync(), fd, 0, exporter);
  if (kept < 0) return nullptr;
  return std::make_shared<const ExportedSyncDescription>(kept);
}

std::optional<SyncExporter> FindExportedSyncPayload(int fd) {
  Kept<SyncExporter>& kept = KeptSync();
  if (fd < 0 || kept.count.load(std::memory_order_relaxed) == 0) return std::nullopt;
  std::lock_guard lock(kept.mutex);
  return FindLocked(kept, fd, 0);
}

}  // namespace ntbridge
