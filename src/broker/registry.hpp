// What the broker holds: payloads (a descriptor each, with what the exporter said about it), their names and
// KMT values, and who holds them. Pure bookkeeping; the server does the I/O. A payload lives while any
// connection holds it; then its name is free again and its KMT value is dead for good.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "kmt_values.hpp"
#include "protocol.hpp"

namespace ntbridge::broker {

using ConnectionId = uint64_t;

class Registry {
 public:
  // `instance` tags this broker's payload ids, so that ids of an earlier broker are never taken for ours.
  Registry(KmtValues* kmt, uint32_t instance, size_t max_payloads);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Takes `fd` (closed on failure). The publisher holds the new payload once. Names are one namespace for
  // every object kind. A KMT-only publish of a file the broker already holds (an object imported from an NT
  // handle of a shared payload) joins that payload, so one payload has one KMT value in every process; when
  // that payload is of another kind it is kWrongKind.
  protocol::PublishReply Publish(ConnectionId c, pid_t pid, const protocol::PublishRequest& r, int fd);
  // On success `*fd` is the payload's descriptor (still owned by the registry) and the opener holds it once.
  // A payload of another kind than `r.object_kind` is kWrongKind, with its info, and takes no hold.
  protocol::OpenReply Open(ConnectionId c, pid_t pid, const protocol::OpenRequest& r, int* fd);
  protocol::ShareKmtReply ShareKmt(ConnectionId c, uint64_t payload);
  protocol::StatusCodeReply Release(ConnectionId c, uint64_t payload);
  // The connection closed (its process ended): every hold it had goes.
  void Drop(ConnectionId c);

  std::vector<protocol::StatusEntry> Snapshot() const;
  size_t size() const { return payloads_.size(); }

 private:
  struct Hold {
    pid_t pid = 0;
    uint32_t count = 0;
  };
  struct Payload {
    uint64_t id = 0;
    int fd = -1;
    protocol::PayloadInfo info;
    std::string name;
    uint32_t kmt = 0;
    uint64_t identity = 0;       // of its descriptor's file (0: not unique, e.g. a device node)
    protocol::PayloadFile file;  // what fstat said of `fd` at publish (told to importers, revision 5)
    std::map<ConnectionId, Hold> holds;
  };
  void Destroy(std::map<uint64_t, Payload>::iterator it);
  void AddHold(Payload& p, ConnectionId c, pid_t pid);

  KmtValues* kmt_;
  uint64_t instance_;
  size_t max_payloads_;
  uint32_t next_serial_ = 1;
  std::map<uint64_t, Payload> payloads_;
  std::unordered_map<std::string, uint64_t> names_;
  std::unordered_map<uint32_t, uint64_t> kmts_;
  std::unordered_map<uint64_t, uint64_t> identities_;  // file identity -> payload
  std::unordered_map<ConnectionId, std::map<uint64_t, uint32_t>> by_connection_;
};

}  // namespace ntbridge::broker
