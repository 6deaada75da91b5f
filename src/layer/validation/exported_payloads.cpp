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
DescriptionTable<ExportedPayload>& Descriptions() {  // guarded by g_mutex
  static auto* descriptions = new DescriptionTable<ExportedPayload>;
  return *descriptions;
}
// How many descriptions are recorded: while 0 (every driver whose descriptors identify their payloads) an
// import looks no further than the identity table.
std::atomic<size_t> g_description_count{0};
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
  if (g_comparable.load(std::memory_order_relaxed) == 0) return -1;
  if (g_description_count.load(std::memory_order_relaxed) >= MaxKept()) return -1;
  const int kept = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (kept < 0) return -1;
  if (g_comparable.load(std::memory_order_acquire) == -1) {
    // The first record learns whether kcmp works here: a descriptor must equal its duplicate.
    g_comparable.store(CompareOpenFileDescriptions(fd, kept) == 0 ? 1 : 0, std::memory_order_release);
    if (g_comparable.load(std::memory_order_relaxed) == 0) {
      close(kept);
      return -1;
    }
  }
  std::lock_guard lock(g_mutex);
  Descriptions().Add(kept, node, payload);
  g_description_count.store(Descriptions().size(), std::memory_order_relaxed);
  return kept;
}

void ForgetExportedDescription(int kept) {
  if (kept < 0) return;
  std::lock_guard lock(g_mutex);
  Descriptions().Forget(kept);
  g_description_count.store(Descriptions().size(), std::memory_order_relaxed);
}

bool ExportedDescriptionsComparable() { return g_comparable.load(std::memory_order_relaxed) != 0; }

std::optional<ExportedPayload> FindExportedPayload(int fd, const struct stat& st) {
  const uint64_t id = UniquePayloadId(st);
  const bool descriptions = g_description_count.load(std::memory_order_relaxed) != 0;
  if (id == 0 && !descriptions) return std::nullopt;
  std::lock_guard lock(g_mutex);
  if (id != 0) {
    if (auto it = Table().find(id); it != Table().end()) return it->second;
  }
  if (!descriptions) return std::nullopt;
  if (const ExportedPayload* found = Descriptions().Find(fd, static_cast<uint64_t>(st.st_rdev)))
    return *found;
  return std::nullopt;
}

}  // namespace ntbridge
