#include "registry.hpp"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "log.hpp"
#include "share_name.hpp"

namespace ntbridge::broker {

using protocol::Status;

namespace {

// Descriptors of one file share an identity. Device nodes (NVIDIA's opaque fds) are one file for every
// payload, and so are files of the anonymous inode (the drm syncobj fds that are Mesa's opaque semaphore and
// fence payloads, sync files, eventfds): they have none.
// `file` gets what fstat says (mode 0 when it fails).
uint64_t IdentityOf(int fd, protocol::PayloadFile* file) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return 0;
  *file = {st.st_dev, st.st_ino, st.st_rdev, st.st_mode, static_cast<uint64_t>(st.st_size)};
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return 0;
  struct statfs fs {};
  if (fstatfs(fd, &fs) != 0 || fs.f_type == ANON_INODE_FS_MAGIC) return 0;
  return (static_cast<uint64_t>(st.st_dev) << 40) ^ static_cast<uint64_t>(st.st_ino);
}

// "a semaphore", "memory": how the log names a payload's kind.
std::string Article(protocol::ObjectKind k) {
  return k == protocol::ObjectKind::kMemory ? "memory" : std::string("a ") + protocol::ObjectKindName(k);
}

std::string Describe(uint64_t payload) {
  char b[32];
  std::snprintf(b, sizeof b, "payload %016llx", static_cast<unsigned long long>(payload));
  return b;
}

}  // namespace

Registry::Registry(KmtValues* kmt, uint32_t instance, size_t max_payloads)
    : kmt_(kmt), instance_(static_cast<uint64_t>(instance) << 32), max_payloads_(max_payloads) {}

Registry::~Registry() {
  for (auto& [id, p] : payloads_) close(p.fd);
}

void Registry::AddHold(Payload& p, ConnectionId c, pid_t pid) {
  Hold& h = p.holds[c];
  h.pid = pid;
  ++h.count;
  ++by_connection_[c][p.id];
}

void Registry::Destroy(std::map<uint64_t, Payload>::iterator it) {
  Payload& p = it->second;
  NTBRIDGE_LOG(LogLevel::kInfo,
               Describe(p.id) + " released" + (p.name.empty() ? "" : " (name \"" + p.name + "\")"));
  if (!p.name.empty()) names_.erase(p.name);
  if (p.kmt != 0) kmts_.erase(p.kmt);
  if (auto it2 = identities_.find(p.identity);
      p.identity != 0 && it2 != identities_.end() && it2->second == p.id) {
    identities_.erase(it2);
  }
  close(p.fd);
  payloads_.erase(it);
}

protocol::PublishReply Registry::Publish(ConnectionId c, pid_t pid, const protocol::PublishRequest& r,
                                         int fd) {
  protocol::PublishReply reply;
  if ((r.flags & protocol::kPublishName) != 0) {
    if (std::string why = CheckShareName(r.name); !why.empty()) {
      NTBRIDGE_LOG(LogLevel::kWarn,
                   "pid " + std::to_string(pid) + ": refused name \"" + r.name + "\": " + why);
      reply.status = Status::kBadRequest;
    } else if (names_.count(r.name) != 0) {
      NTBRIDGE_LOG(LogLevel::kInfo, "pid " + std::to_string(pid) + ": name \"" + r.name + "\" is in use");
      reply.status = Status::kNameInUse;
    }
  }
  protocol::PayloadFile file;
  const uint64_t identity = IdentityOf(fd, &file);
  if (reply.status == Status::kOk && r.flags == protocol::kPublishKmt && identity != 0) {
    if (auto known = identities_.find(identity); known != identities_.end()) {
      close(fd);
      Payload& p = payloads_.at(known->second);
      if (p.info.object_kind != r.info.object_kind) {
        NTBRIDGE_LOG(LogLevel::kInfo, "pid " + std::to_string(pid) + ": refused to share " + Describe(p.id) +
                                          ", which is " + Article(p.info.object_kind) + ", as " +
                                          Article(r.info.object_kind));
        reply.status = Status::kWrongKind;
        return reply;
      }
      protocol::ShareKmtReply kmt_reply;
      AddHold(p, c, pid);
      kmt_reply = ShareKmt(c, p.id);
      if (kmt_reply.status != Status::kOk) {
        Release(c, p.id);
        reply.status = kmt_reply.status;
        return reply;
      }
      NTBRIDGE_LOG(LogLevel::kInfo,
                   "pid " + std::to_string(pid) + " shares " + Describe(p.id) + " by KMT value");
      reply.payload = p.id;
      reply.kmt = p.kmt;
      return reply;
    }
  }
  if (reply.status == Status::kOk && payloads_.size() >= max_payloads_) reply.status = Status::kTooMany;
  uint32_t kmt = 0;
  if (reply.status == Status::kOk && (r.flags & protocol::kPublishKmt) != 0) {
    kmt = kmt_->Next();
    if (kmt == 0) reply.status = Status::kTooMany;
  }
  if (reply.status != Status::kOk) {
    close(fd);
    return reply;
  }
  uint64_t id;
  do {
    id = instance_ | next_serial_++;
  } while (payloads_.count(id) != 0 || static_cast<uint32_t>(id) == 0);
  Payload& p = payloads_[id];
  p.id = id;
  p.fd = fd;
  p.info = r.info;
  p.name = (r.flags & protocol::kPublishName) != 0 ? r.name : std::string();
  p.kmt = kmt;
  p.identity = identity;
  p.file = file;
  if (identity != 0) identities_.emplace(identity, id);  // the first payload of a file keeps it
  if (!p.name.empty()) names_[p.name] = id;
  if (kmt != 0) kmts_[kmt] = id;
  AddHold(p, c, pid);
  NTBRIDGE_LOG(LogLevel::kInfo, "pid " + std::to_string(pid) + " published " + Describe(id) +
                                    (p.name.empty() ? "" : " as \"" + p.name + "\"") +
                                    (kmt != 0 ? " with KMT value " + std::to_string(kmt) : "") + ", " +
                                    (r.info.object_kind == protocol::ObjectKind::kMemory
                                         ? std::to_string(r.info.allocation_size) + " bytes"
                                         : Article(r.info.object_kind)));
  reply.payload = id;
  reply.kmt = kmt;
  return reply;
}

protocol::OpenReply Registry::Open(ConnectionId c, pid_t pid, const protocol::OpenRequest& r, int* fd) {
  protocol::OpenReply reply;
  *fd = -1;
  uint64_t id = 0;
  if (r.kmt != 0) {
    auto it = kmts_.find(r.kmt);
    if (it != kmts_.end()) id = it->second;
  } else {
    auto it = names_.find(r.name);
    if (it != names_.end()) id = it->second;
  }
  if (id == 0) {
    NTBRIDGE_LOG(LogLevel::kInfo,
                 "pid " + std::to_string(pid) + ": nothing live under " +
                     (r.kmt != 0 ? "KMT value " + std::to_string(r.kmt) : "name \"" + r.name + "\""));
    reply.status = Status::kNotFound;
    return reply;
  }
  Payload& p = payloads_.at(id);
  if (p.info.object_kind != r.object_kind) {
    // As on Windows, a name or value of one kind of object is no handle of another.
    NTBRIDGE_LOG(LogLevel::kInfo,
                 "pid " + std::to_string(pid) + ": " +
                     (r.kmt != 0 ? "KMT value " + std::to_string(r.kmt) : "name \"" + r.name + "\"") +
                     " is " + Article(p.info.object_kind) + ", not " + Article(r.object_kind));
    reply.status = Status::kWrongKind;
    reply.info = p.info;
    return reply;
  }
  AddHold(p, c, pid);
  reply.payload = id;
  reply.kmt = p.kmt;
  reply.info = p.info;
  reply.file = p.file;
  *fd = p.fd;
  NTBRIDGE_LOG(LogLevel::kDebug, "pid " + std::to_string(pid) + " opened " + Describe(id));
  return reply;
}

protocol::ShareKmtReply Registry::ShareKmt(ConnectionId c, uint64_t payload) {
  protocol::ShareKmtReply reply;
  auto it = payloads_.find(payload);
  if (it == payloads_.end() || it->second.holds.count(c) == 0) {
    reply.status = Status::kNotHeld;
    return reply;
  }
  Payload& p = it->second;
  if (p.kmt == 0) {
    p.kmt = kmt_->Next();
    if (p.kmt == 0) {
      reply.status = Status::kTooMany;
      return reply;
    }
    kmts_[p.kmt] = p.id;
    NTBRIDGE_LOG(LogLevel::kInfo, Describe(p.id) + " got KMT value " + std::to_string(p.kmt));
  }
  reply.kmt = p.kmt;
  return reply;
}

protocol::StatusCodeReply Registry::Release(ConnectionId c, uint64_t payload) {
  protocol::StatusCodeReply reply;
  auto it = payloads_.find(payload);
  auto conn = by_connection_.find(c);
  if (it == payloads_.end() || conn == by_connection_.end() || conn->second.count(payload) == 0) {
    reply.status = Status::kNotHeld;
    return reply;
  }
  if (--conn->second[payload] == 0) conn->second.erase(payload);
  if (conn->second.empty()) by_connection_.erase(conn);
  auto hold = it->second.holds.find(c);
  if (--hold->second.count == 0) it->second.holds.erase(hold);
  if (it->second.holds.empty()) Destroy(it);
  return reply;
}

void Registry::Drop(ConnectionId c) {
  auto conn = by_connection_.find(c);
  if (conn == by_connection_.end()) return;
  for (auto& [payload, count] : conn->second) {
    auto it = payloads_.find(payload);
    if (it == payloads_.end()) continue;
    it->second.holds.erase(c);
    if (it->second.holds.empty()) Destroy(it);
  }
  by_connection_.erase(conn);
}

std::vector<protocol::StatusEntry> Registry::Snapshot() const {
  std::vector<protocol::StatusEntry> out;
  for (const auto& [id, p] : payloads_) {
    protocol::StatusEntry e;
    e.payload = id;
    e.kmt = p.kmt;
    e.info = p.info;
    e.name = p.name;
    for (const auto& [c, h] : p.holds) {
      for (uint32_t i = 0; i < h.count; ++i) e.holders.push_back(static_cast<uint32_t>(h.pid));
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace ntbridge::broker
