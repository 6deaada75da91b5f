#include "validation/exported_payloads.hpp"

#include <sys/stat.h>

#include <mutex>
#include <unordered_map>

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

std::optional<ExportedPayload> FindExportedPayload(uint64_t id) {
  if (id == 0) return std::nullopt;
  std::lock_guard lock(g_mutex);
  auto it = Table().find(id);
  if (it == Table().end()) return std::nullopt;
  return it->second;
}

void ForgetExportedPayload(uint64_t id) {
  std::lock_guard lock(g_mutex);
  if (auto it = Table().find(id); it != Table().end()) Nodes().Take(Table(), it);
}

}  // namespace ntbridge
