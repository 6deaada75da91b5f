#include "validation/exported_payloads.hpp"

#include <sys/stat.h>

#include <mutex>
#include <unordered_map>

#include "nt_handle.hpp"

namespace ntbridge {
namespace {

std::mutex g_mutex;
std::unordered_map<uint64_t, ExportedPayload>& Table() {
  static auto* table = new std::unordered_map<uint64_t, ExportedPayload>;  // outlives every static destructor
  return *table;
}

}  // namespace

uint64_t UniquePayloadId(int fd) {
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0 || S_ISCHR(st.st_mode)) return 0;
  return (static_cast<uint64_t>(st.st_dev) << 40) ^ static_cast<uint64_t>(st.st_ino);  // = PayloadId(fd)
}

void RecordExportedPayload(uint64_t id, const ExportedPayload& payload) {
  if (id == 0) return;
  std::lock_guard lock(g_mutex);
  Table()[id] = payload;
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
  Table().erase(id);
}

}  // namespace ntbridge
