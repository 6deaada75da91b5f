// The broker's event loop: accepts connections of this user only (SO_PEERCRED), answers one request at a time
// per connection, and drops a connection, with every hold it had, when it closes or sends anything malformed.
//
// One-way releases (protocol.hpp) are exact: before it answers a request whose answer depends on which
// payloads live, the loop takes the releases already queued on every other connection, on every release
// socket and in every release ring (DrainReleases). Release sockets (revision 4) are not polled, and release
// rings (revision 6) ring no doorbell, while releases come, so that a release wakes nobody: after a drain
// that found releases on them, a timer reads them 1 s later (unless another drain that finds some comes
// first and sets it again), and once the timer finds none the sockets are polled again and the rings'
// doorbells set, so an idle broker sleeps without a timer and the next release after a quiet second wakes it.
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "registry.hpp"
#include "release_ring.hpp"
#include "wire.hpp"

namespace ntbridge::broker {

struct ServerOptions {
  int idle_exit_seconds = 0;  // exit after this long without connections (0: never)
  size_t max_connections = 4096;
  // For tests only (NTBRIDGE_TEST_HARVEST_DELAY_MS): a pause between taking the event loop's harvest and
  // serving it, the window in which a request can arrive after the harvest that a drain must not answer from.
  int harvest_delay_ms = 0;
};

class Server {
 public:
  Server(int listen_fd, Registry* registry, const KmtValues* kmt, const ServerOptions& options);
  ~Server();
  // Runs until asked to stop (SIGTERM/SIGINT) or idle for too long. Returns the exit status.
  int Run();

 private:
  struct Connection {
    int fd = -1;
    ConnectionId id = 0;
    pid_t pid = 0;
    // The protocol revision its client said in kHello (1 when it said none): requests are read, and replies
    // written, in that revision's body layout.
    uint32_t revision = 1;
    // The client's socket for one-way releases (kReleaseSocket, revision 4), -1 without one. Read by
    // DrainReleases and the timer, never answered.
    int release_fd = -1;
    bool release_watched =
        false;  // in the event loop (while the sockets are polled: release_sockets_polled_)
    // The client's release ring (kReleaseRing, revision 6), null without one. Read by DrainReleases, the
    // timer and before the client's own requests. A connection has a release socket or a ring, not both; one
    // with a ring sends releases on its connection only when the ring is full (those wake the broker, as
    // before revision 4, and DrainReleases finds them in the harvest).
    std::unique_ptr<ReleaseRing> ring;
    // The harvest (Server::harvest_) in which a drain last read this connection ahead of its turn.
    uint64_t read_in_harvest = 0;
    // A message read ahead of its turn by DrainReleases (one that is not a one-way release), with its
    // descriptors. The connection is not read again until it is handled, so its messages keep their order.
    bool has_pending = false;
    std::vector<uint8_t> pending;
    std::vector<int> pending_fds;
    // One-way releases the registry refused; only the first few are logged one by one (a client that keeps
    // sending them must not fill the log), the rest are counted and reported when the connection closes.
    uint64_t refused_releases = 0;
  };
  void Accept();
  // Handles the pending message or else reads one (if any is queued); false when the connection must close.
  bool Serve(Connection& c);
  // Decodes and handles one message; false (with `why`) when the connection must close.
  bool Process(Connection& c, std::span<const uint8_t> bytes, std::vector<int>& fds, std::string* why);
  bool Handle(Connection& c, uint16_t type, std::span<const uint8_t> body, std::vector<int>& fds,
              std::string* why);
  // Takes every one-way release queued on connections other than `requester`, in each connection's order,
  // up to its first message of another kind (kept as its pending message), and every release queued on any
  // release socket, the requester's included. Closes the other connections that broke the protocol on their
  // release sockets; false (with `why`) when the requester did (the caller closes it). `requester` may be
  // null (the timer).
  bool DrainReleases(Connection* requester, std::string* why);
  // Takes exactly what was queued on `c`'s release socket (to its end where the client hung up; `ready`:
  // poll said it is readable); `took` is set when a release came. False (with `why`, empty for a hang-up)
  // when the connection must close.
  bool TakeReleases(Connection& c, bool ready, bool hung_up, bool* took, std::string* why);
  // Takes the one-way releases queued on `c`'s connection, exactly what was queued (to its end where the
  // client hung up), up to its first message of another kind, which becomes its pending message. False when
  // the connection was closed (the caller erases it).
  bool ReadQueuedReleases(Connection& c, bool hung_up);
  // The event loop's set (epoll): `key` is a connection's id, with kReleaseSocketKey for its release socket,
  // or 0 for the listening socket. False when the kernel refused (logged).
  bool Watch(int fd, uint64_t key);
  void Unwatch(int fd);
  void WatchReleaseSocket(Connection& c, bool watch);
  // Takes what `c`'s client wrote into its release ring (if it has one); false (with `why`) when the ring is
  // broken and the connection must close.
  bool TakeRing(Connection& c, bool* took, std::string* why);
  // TakeRing for every connection; closes the others whose ring is broken, false (with `why`, if not null)
  // when the requester's is (the caller closes it).
  bool TakeRings(Connection* requester, bool* took, std::string* why);
  // After taking releases from release sockets or rings (`took`): the sockets go unpolled and the doorbells
  // unset, and the timer reads them 1 s from now.
  void NoteTook(bool took);
  // Both of the above for the client's own request: what it released before is gone when it is answered.
  bool TakeOwnReleases(Connection& c, std::string* why);
  // Whether the broker sleeps without reading the rings and release sockets: then the sockets are polled and
  // the rings' doorbells set (looking at every ring once more after setting them: release_ring.hpp).
  void SetReleasesPolled(bool polled);
  // kReleaseRing: a new ring for `c`, whose descriptor goes back with the reply (-1 when refused).
  protocol::Status MakeReleaseRing(Connection& c, int* fd);
  // Drops one hold of `c` (a one-way release, from either socket); a refusal is logged, not answered.
  void ApplyRelease(Connection& c, uint64_t payload);
  // kReleaseSocket: takes `fd` as `c`'s release socket when it is a connected Unix seqpacket socket of this
  // user and `c` has none yet (else closes it).
  protocol::Status AdoptReleaseSocket(Connection& c, int fd);
  bool Reply(Connection& c, protocol::Type type, const std::vector<uint8_t>& body, int fd = -1);
  void CloseConnection(Connection& c, const std::string& why);

  int listen_fd_;
  Registry* registry_;
  const KmtValues* kmt_;
  ServerOptions options_;
  ConnectionId next_id_ = 1;
  // By id, which grows with each accept: a descriptor number can be reused within one turn of the loop.
  std::map<ConnectionId, Connection> connections_;
  std::vector<uint8_t> buffer_;                              // the message being served
  std::vector<uint8_t> drain_buffer_;                        // one read by DrainReleases
  std::vector<uint8_t> release_buffer_;                      // one read from a release socket
  std::array<SmallPacket, kMaxSmallPackets> release_batch_;  // what one recvmmsg reads from a release socket
  // A poll set's entries: the connection, and whether the entry is its release socket.
  struct PollEntry {
    ConnectionId id = 0;
    bool release_socket = false;
  };
  int epoll_fd_ = -1;
  size_t watched_ = 0;  // descriptors in the epoll set
  std::vector<epoll_event> events_;
  // The connections of the event loop's last harvest that had something (a message or a hang-up), with what
  // they had: DrainReleases reads these, and only these, for releases queued on connections.
  struct Ready {
    ConnectionId id = 0;
    uint32_t events = 0;
  };
  std::vector<Ready> ready_;
  uint64_t harvest_ = 0;  // counts the event loop's harvests
  // Connections whose pending message DrainReleases read ahead; Run serves them without waiting.
  std::vector<ConnectionId> pending_ids_;
  std::vector<pollfd> drain_fds_;  // DrainReleases' poll set of release sockets, kept to spare an allocation
  std::vector<PollEntry> drain_entries_;
  // Release sockets are in Run's poll set, and the rings' doorbells set, unless a drain found releases on
  // them; then the timer reads them at release_sweep_at_ms_.
  bool release_sockets_polled_ = true;
  int64_t release_sweep_at_ms_ = 0;
};

// Signal handling for Run(): SIGTERM and SIGINT stop the loop, SIGPIPE is ignored.
void InstallSignalHandlers();

}  // namespace ntbridge::broker
