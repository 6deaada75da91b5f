// The connection of one process to its user's broker. Thread-safe: one request at a time, and nothing is sent
// while a request waits for its reply (which one-way releases rely on: protocol.hpp). Connects on first use,
// starting the broker when none answers (and `start` is set); after the broker died, the next request
// connects again (to a new broker, which knows nothing of the old one's payloads). With a broker of revision
// 4 one-way releases go on a release socket, which wakes no one, and from revision 6 into a release ring in
// shared memory, which takes no system call either (protocol.hpp). For tests and A/B measurements, in the
// environment: NTBRIDGE_TEST_POLLED_RELEASES=1 keeps releases on the connection, as with a broker before
// revision 4; NTBRIDGE_TEST_RELEASE_SOCKET=1 puts them on a release socket, as with a broker of revision 4
// or 5.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "protocol.hpp"
#include "release_ring.hpp"

namespace ntbridge {

struct BrokerOptions {
  std::string socket_path;  // empty: BrokerSocketPath()'s default
  std::string broker_path;  // the ntbridged program; empty: FindBrokerProgram()'s search
  bool start = true;        // start a broker when none answers
};

class BrokerClient {
 public:
  BrokerClient() = default;
  ~BrokerClient();
  BrokerClient(const BrokerClient&) = delete;
  BrokerClient& operator=(const BrokerClient&) = delete;

  // Takes effect on the next request; a different socket path drops the current connection.
  void SetOptions(const BrokerOptions& options);

  // Each returns false, with `error` saying why, when no reply came (no broker, broker died mid-request,
  // malformed reply). A reply with a failure status is still `true`: look at its status. Requests go in the
  // layout of the broker's revision; a publish or open of a semaphore or fence needs revision 3
  // (protocol.hpp): with an older broker running it is false, with `error` saying so, and nothing is sent.
  bool Publish(const protocol::PublishRequest& request, int fd, protocol::PublishReply* reply,
               std::string* error);
  // On an ok reply, *fd is a new descriptor of the payload that the caller owns.
  bool Open(const protocol::OpenRequest& request, protocol::OpenReply* reply, int* fd, std::string* error);
  bool ShareKmt(uint64_t payload, protocol::ShareKmtReply* reply, std::string* error);
  bool Release(uint64_t payload, protocol::StatusCodeReply* reply, std::string* error);
  // Drops one hold without waiting for the broker (kReleaseOneWay; with a broker of revision 1, Release),
  // from revision 4 without waking it (on the release socket), from revision 6 without a system call (in the
  // release ring; when the ring is full, on the connection). Once it returns, a request of any process that
  // starts afterwards sees the hold gone. Connects to no broker: without a connection this process holds
  // nothing. False, with `error`, when the release could not be sent: the broker is gone (and the hold with
  // it), or it took nothing for the reply timeout (the hold stays until this process's connection closes). A
  // release written into a ring is true even when the broker has died since (its holds died with it, which
  // the next request finds). A release the broker refuses is logged by the broker.
  bool ReleaseOneWay(uint64_t payload, std::string* error);
  bool Status(std::vector<protocol::StatusEntry>* entries, protocol::StatusReply* reply, std::string* error);

  // The socket path requests go to.
  std::string SocketPath();
  // The protocol revision spoken with the broker: the broker's as learned on connecting, at most
  // protocol::kRevision (0 while not connected).
  uint32_t BrokerRevision();
  // Where this connection's one-way releases go (kNone while not connected).
  enum class ReleasePath { kNone, kConnection, kSocket, kRing };
  ReleasePath Releases();

 private:
  // `lost` (may be null): the connection failed while saying kHello, so a retry on a new one may succeed.
  bool EnsureConnected(std::string* error, bool* lost = nullptr);
  // kHello on a new connection; false when the broker closed the connection (it knows no kHello) or failed.
  bool Hello(bool* refused, bool* lost, std::string* error);
  // kReleaseSocket on a new connection of revision 4: the broker takes one end of a socket pair, the other
  // becomes release_fd_. True also when there is none (no descriptor left, refused, or switched off for a
  // test): releases then go on the connection. False when the connection failed (`lost`: not a timeout).
  bool OpenReleaseSocket(bool* lost, std::string* error);
  // kReleaseRing on a new connection of revision 6: ring_ maps the page the broker answers with. True also
  // when there is none (refused, or switched off for a test: releases then take a release socket); false when
  // the connection failed (`lost`: not a timeout).
  bool OpenReleaseRing(bool* lost, std::string* error);
  // kReleaseSocket or kReleaseRing, without a body: the broker's status code and the descriptor that came
  // with it (-1 without one). False when no well-formed reply came (`lost`: the connection failed, not a
  // timeout).
  bool AskForReleasePath(protocol::Type type, int attach_fd, protocol::StatusCodeReply* reply, int* reply_fd,
                         bool* lost, std::string* error);
  void Disconnect();
  // Makes the body of a request in the layout of the broker's `revision`; false, with `error`, when that
  // broker cannot take the request.
  using RequestBody = std::function<bool(uint32_t revision, std::vector<uint8_t>* body, std::string* error)>;
  // Sends the one-way releases that a stalled broker did not take earlier, oldest first, before anything
  // else goes out on the connection. `wait`: block up to the send timeout, else send only what fits now.
  bool FlushReleases(bool wait, std::string* error);
  // Sends one request and receives one reply of `type`, in the layout of revision_ (which the reply keeps
  // while the connection lasts); retries once on a fresh connection if the broker went away. `reply_fd` (may
  // be null) gets a descriptor that came with the reply, else -1.
  bool Transact(protocol::Type type, const RequestBody& body, int attach_fd, std::vector<uint8_t>* reply_body,
                int* reply_fd, std::string* error);
  bool TransactOnce(protocol::Type type, const RequestBody& body, int attach_fd,
                    std::vector<uint8_t>* reply_body, int* reply_fd, bool* lost, std::string* error);

  std::mutex mutex_;
  BrokerOptions options_;
  int fd_ = -1;
  int release_fd_ = -1;                // where one-way releases go (revision 4), -1 without one
  std::unique_ptr<ReleaseRing> ring_;  // where one-way releases go (revision 6), null without one
  pid_t pid_ = 0;  // the process that connected: a forked child must not share its parent's connection
  uint32_t revision_ = 0;  // the broker's (protocol.hpp) as learned on connecting, at most ours
  // One-way releases not yet sent because the broker took nothing for the send timeout: they go out before
  // any later message of this connection, so the broker still sees this process's messages in order.
  std::vector<uint64_t> unsent_releases_;
};

}  // namespace ntbridge
