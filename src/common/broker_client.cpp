#include "broker_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "broker_launch.hpp"
#include "self_pid.hpp"
#include "socket_path.hpp"
#include "wire.hpp"

namespace ntbridge {
namespace {

constexpr int kReplyTimeoutSeconds = 10;

template <typename T>
bool DecodeReply(const std::vector<uint8_t>& body, T* reply, std::string* error) {
  std::string why;
  if (protocol::DecodeBody(body, reply, &why)) return true;
  *error = "malformed reply from the broker: " + why;
  return false;
}
// For the replies whose layout changed: in that of the broker's `revision`.
template <typename T>
bool DecodeReply(const std::vector<uint8_t>& body, T* reply, std::string* error, uint32_t revision) {
  std::string why;
  if (protocol::DecodeBody(body, reply, &why, revision)) return true;
  *error = "malformed reply from the broker: " + why;
  return false;
}

// A body that is the same in every revision.
auto FixedBody(std::vector<uint8_t> bytes) {
  return [bytes = std::move(bytes)](uint32_t, std::vector<uint8_t>* body, std::string*) {
    *body = bytes;
    return true;
  };
}

// The body of a publish or open of an object of `kind`. A broker before revision 3 knows memory only; one
// that runs is left alone (its processes hold payloads through it) and a current one takes its place once it
// has gone, on this process's next request.
template <typename T>
auto KindBody(const T& request, protocol::ObjectKind kind) {
  return [&request, kind](uint32_t revision, std::vector<uint8_t>* body, std::string* error) {
    if (kind != protocol::ObjectKind::kMemory && revision < protocol::kRevisionObjectKinds) {
      *error = "the running ntbridged broker is too old (protocol revision " + std::to_string(revision) +
               ") for semaphores and fences, which need revision " +
               std::to_string(protocol::kRevisionObjectKinds) +
               "; it will be replaced by a current one once it exits (when idle) or is stopped";
      return false;
    }
    *body = protocol::EncodeBody(request, revision);
    return true;
  };
}

}  // namespace

BrokerClient::~BrokerClient() { Disconnect(); }

void BrokerClient::SetOptions(const BrokerOptions& options) {
  std::lock_guard lock(mutex_);
  // The layer sets them before every request: the same ones cost no path lookup.
  if (options.socket_path == options_.socket_path && options.broker_path == options_.broker_path &&
      options.start == options_.start) {
    return;
  }
  if (BrokerSocketPath(options.socket_path) != BrokerSocketPath(options_.socket_path)) Disconnect();
  options_ = options;
}

std::string BrokerClient::SocketPath() {
  std::lock_guard lock(mutex_);
  return BrokerSocketPath(options_.socket_path);
}

void BrokerClient::Disconnect() {
  // In a forked child this closes only the child's copy; the parent's connection stays.
  if (fd_ >= 0) close(fd_);
  if (release_fd_ >= 0) close(release_fd_);
  fd_ = -1;
  release_fd_ = -1;
  ring_.reset();             // in a forked child, the child's mapping
  unsent_releases_.clear();  // the holds lived on the connection: they are gone with it
}

bool BrokerClient::FlushReleases(bool wait, std::string* error) {
  size_t sent = 0;
  for (; sent < unsent_releases_.size(); ++sent) {
    std::vector<uint8_t> bytes = protocol::EncodeMessage(protocol::Type::kReleaseOneWay, false,
                                                         protocol::PayloadRequest{unsent_releases_[sent]});
    if (SendPacket(fd_, bytes, -1, wait ? 0 : MSG_DONTWAIT)) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      unsent_releases_.erase(unsent_releases_.begin(), unsent_releases_.begin() + sent);
      *error = "the broker took no message for " + std::to_string(kReplyTimeoutSeconds) + " s; " +
               std::to_string(unsent_releases_.size()) +
               " release(s) are kept and sent before this process's next message to it";
      return false;
    }
    *error = std::string("the broker connection failed (") + std::strerror(errno) +
             "): the broker is gone, and every hold of this process with it";
    Disconnect();
    return false;
  }
  unsent_releases_.clear();
  return true;
}

uint32_t BrokerClient::BrokerRevision() {
  std::lock_guard lock(mutex_);
  return fd_ >= 0 ? revision_ : 0;
}

BrokerClient::ReleasePath BrokerClient::Releases() {
  std::lock_guard lock(mutex_);
  if (fd_ < 0) return ReleasePath::kNone;
  if (ring_ != nullptr) return ReleasePath::kRing;
  return release_fd_ >= 0 ? ReleasePath::kSocket : ReleasePath::kConnection;
}

bool BrokerClient::EnsureConnected(std::string* error, bool* lost) {
  if (fd_ >= 0 && pid_ != SelfPid()) Disconnect();  // forked: the connection is the parent's
  if (fd_ >= 0) return true;
  std::string path = BrokerSocketPath(options_.socket_path);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (options_.start) {
      fd_ = ConnectOrStartBroker(path, options_.broker_path, error);
    } else {
      fd_ = ConnectTo(path);
      if (fd_ < 0) *error = "no broker answers at " + path;
    }
    if (fd_ < 0) return false;
    pid_ = SelfPid();
    timeval timeout{kReplyTimeoutSeconds, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (attempt == 1) {
      revision_ = 1;  // a broker that closed the connection on kHello: it predates it
      return true;
    }
    bool refused = false;
    bool hello_lost = false;
    if (Hello(&refused, &hello_lost, error)) {
      if (OpenReleaseRing(&hello_lost, error) && (ring_ != nullptr || OpenReleaseSocket(&hello_lost, error)))
        return true;
      Disconnect();
      if (lost != nullptr) *lost = hello_lost;  // e.g. a broker that was going away: a new one is started
      return false;
    }
    Disconnect();
    if (!refused) {
      if (lost != nullptr) *lost = hello_lost;
      return false;
    }
  }
  return false;
}

bool BrokerClient::Hello(bool* refused, bool* lost, std::string* error) {
  *refused = false;
  *lost = false;
  if (!SendPacket(fd_, protocol::EncodeMessage(protocol::Type::kHello, false, protocol::HelloRequest{}))) {
    *error = "the broker connection failed while sending";
    *lost = true;  // e.g. a broker that was closing its socket as this connected: a new one is started
    return false;
  }
  std::vector<uint8_t> bytes;
  std::vector<int> fds;
  std::string why;
  ReceiveResult r = ReceivePacket(fd_, &bytes, &fds, &why);
  if (r == ReceiveResult::kClosed) {
    *refused = true;
    *error = "the broker closed the connection";
    return false;
  }
  if (r != ReceiveResult::kOk) {
    *error = "no reply from the broker: " + why;
    *lost = r == ReceiveResult::kError && errno != EAGAIN && errno != EWOULDBLOCK;  // not a timeout
    return false;
  }
  auto message = protocol::DecodeMessage(bytes, &why);
  const uint16_t want = static_cast<uint16_t>(protocol::Type::kHello) | protocol::kReplyBit;
  if (!message || message->header.type != want || !fds.empty()) {
    CloseAll(&fds);
    *error = message ? "unexpected reply from the broker" : "malformed reply from the broker: " + why;
    return false;
  }
  protocol::HelloReply reply;
  if (!DecodeReply(std::vector<uint8_t>(message->body.begin(), message->body.end()), &reply, error))
    return false;
  revision_ = std::min(reply.revision, protocol::kRevision);  // a newer broker answers in our layout
  return true;
}

namespace {

bool Switched(const char* variable) {
  const char* v = std::getenv(variable);
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace

bool BrokerClient::AskForReleasePath(protocol::Type type, int attach_fd, protocol::StatusCodeReply* reply,
                                     int* reply_fd, bool* lost, std::string* error) {
  *reply_fd = -1;
  if (!SendPacket(fd_, protocol::Encode(type, false, {}), attach_fd)) {
    *error = "the broker connection failed while sending";
    *lost = true;
    return false;
  }
  std::vector<uint8_t> bytes;
  std::vector<int> fds;
  std::string why;
  ReceiveResult r = ReceivePacket(fd_, &bytes, &fds, &why);
  std::optional<protocol::Message> message;
  if (r == ReceiveResult::kOk) message = protocol::DecodeMessage(bytes, &why);
  const uint16_t want = static_cast<uint16_t>(type) | protocol::kReplyBit;
  if (!message || message->header.type != want || fds.size() > 1 ||
      !protocol::DecodeBody(message->body, reply, &why)) {
    CloseAll(&fds);
    *error = r == ReceiveResult::kOk ? "malformed reply from the broker: " + why
                                     : "no reply from the broker: " + why;
    *lost = r == ReceiveResult::kClosed ||
            (r == ReceiveResult::kError && errno != EAGAIN && errno != EWOULDBLOCK);  // not a timeout
    return false;
  }
  if (!fds.empty()) *reply_fd = fds[0];
  return true;
}

bool BrokerClient::OpenReleaseSocket(bool* lost, std::string* error) {
  *lost = false;
  if (revision_ < protocol::kRevisionReleaseSocket || Switched("NTBRIDGE_TEST_POLLED_RELEASES")) return true;
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return true;  // on the connection
  protocol::StatusCodeReply reply;
  int extra = -1;
  const bool answered =
      AskForReleasePath(protocol::Type::kReleaseSocket, pair[1], &reply, &extra, lost, error);
  close(pair[1]);  // the broker's end, in flight
  if (extra >= 0) close(extra);
  if (answered && reply.status == protocol::Status::kOk && extra < 0) {
    release_fd_ = pair[0];
  } else {
    close(pair[0]);  // refused (the broker's log says why): releases go on the connection
  }
  return answered;
}

bool BrokerClient::OpenReleaseRing(bool* lost, std::string* error) {
  *lost = false;
  if (revision_ < protocol::kRevisionReleaseRing || Switched("NTBRIDGE_TEST_POLLED_RELEASES") ||
      Switched("NTBRIDGE_TEST_RELEASE_SOCKET")) {
    return true;
  }
  protocol::StatusCodeReply reply;
  int fd = -1;
  if (!AskForReleasePath(protocol::Type::kReleaseRing, -1, &reply, &fd, lost, error)) return false;
  if (reply.status == protocol::Status::kOk && fd >= 0) {
    std::string why;
    // Something else than a ring: the broker (which drops a ring never written into) gets a release socket.
    ring_ = ReleaseRing::Map(fd, &why);
  }
  if (fd >= 0) close(fd);
  return true;
}

bool BrokerClient::TransactOnce(protocol::Type type, const RequestBody& body, int attach_fd,
                                std::vector<uint8_t>* reply_body, int* reply_fd, bool* lost,
                                std::string* error) {
  *lost = false;
  if (!EnsureConnected(error, lost)) return false;
  std::vector<uint8_t> request_body;
  if (!body(revision_, &request_body, error)) return false;  // this broker cannot take it
  if (!FlushReleases(true, error)) {
    *lost = fd_ < 0;  // a broker that went away takes the holds with it: the request may go to a new one
    return false;
  }
  std::vector<uint8_t> request = protocol::Encode(type, false, request_body);
  if (!SendPacket(fd_, request, attach_fd)) {
    *error = "the broker connection failed while sending";
    *lost = true;
    Disconnect();
    return false;
  }
  std::vector<uint8_t> bytes;
  std::vector<int> fds;
  std::string why;
  ReceiveResult r = ReceivePacket(fd_, &bytes, &fds, &why);
  if (r != ReceiveResult::kOk) {
    // A broker that went away is retried on a new connection; one that does not answer in time is not.
    *lost = r == ReceiveResult::kClosed ||
            (r == ReceiveResult::kError && errno != EAGAIN && errno != EWOULDBLOCK);
    *error = r == ReceiveResult::kClosed ? "the broker closed the connection (it exited or was killed)"
                                         : "no reply from the broker: " + why;
    Disconnect();
    return false;
  }
  auto message = protocol::DecodeMessage(bytes, &why);
  uint16_t want = static_cast<uint16_t>(type) | protocol::kReplyBit;
  if (!message || message->header.type != want || fds.size() > (reply_fd != nullptr ? 1u : 0u)) {
    CloseAll(&fds);
    *error = message ? "unexpected reply from the broker" : "malformed reply from the broker: " + why;
    Disconnect();
    return false;
  }
  reply_body->assign(message->body.begin(), message->body.end());
  if (reply_fd != nullptr) *reply_fd = fds.empty() ? -1 : fds[0];
  return true;
}

bool BrokerClient::Transact(protocol::Type type, const RequestBody& body, int attach_fd,
                            std::vector<uint8_t>* reply_body, int* reply_fd, std::string* error) {
  bool lost = false;
  if (TransactOnce(type, body, attach_fd, reply_body, reply_fd, &lost, error)) return true;
  // A broker that died since the last request: the next one is started on the retry.
  if (!lost) return false;
  return TransactOnce(type, body, attach_fd, reply_body, reply_fd, &lost, error);
}

bool BrokerClient::Publish(const protocol::PublishRequest& request, int fd, protocol::PublishReply* reply,
                           std::string* error) {
  std::lock_guard lock(mutex_);
  std::vector<uint8_t> body;
  return Transact(protocol::Type::kPublish, KindBody(request, request.info.object_kind), fd, &body, nullptr,
                  error) &&
         DecodeReply(body, reply, error);
}

bool BrokerClient::Open(const protocol::OpenRequest& request, protocol::OpenReply* reply, int* fd,
                        std::string* error) {
  std::lock_guard lock(mutex_);
  std::vector<uint8_t> body;
  *fd = -1;
  if (!Transact(protocol::Type::kOpen, KindBody(request, request.object_kind), -1, &body, fd, error))
    return false;
  if (!DecodeReply(body, reply, error, revision_) || (reply->status == protocol::Status::kOk) != (*fd >= 0)) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    if (error->empty()) *error = "the broker's reply and its descriptor disagree";
    return false;
  }
  return true;
}

bool BrokerClient::ShareKmt(uint64_t payload, protocol::ShareKmtReply* reply, std::string* error) {
  std::lock_guard lock(mutex_);
  std::vector<uint8_t> body;
  return Transact(protocol::Type::kShareKmt,
                  FixedBody(protocol::EncodeBody(protocol::PayloadRequest{payload})), -1, &body, nullptr,
                  error) &&
         DecodeReply(body, reply, error);
}

bool BrokerClient::Release(uint64_t payload, protocol::StatusCodeReply* reply, std::string* error) {
  std::lock_guard lock(mutex_);
  std::vector<uint8_t> body;
  return Transact(protocol::Type::kRelease,
                  FixedBody(protocol::EncodeBody(protocol::PayloadRequest{payload})), -1, &body, nullptr,
                  error) &&
         DecodeReply(body, reply, error);
}

bool BrokerClient::ReleaseOneWay(uint64_t payload, std::string* error) {
  std::lock_guard lock(mutex_);
  if (fd_ < 0 || pid_ != SelfPid()) return true;  // holds live on a connection: without one there are none
  const protocol::PayloadRequest request{payload};
  if (ring_ != nullptr) {
    // Releases a stalled broker did not take earlier (a full ring spilled onto the connection) are tried
    // again without waiting, as each release on the connection would (they commute with the ring's).
    std::string ignored;
    if (!unsent_releases_.empty() && !FlushReleases(false, &ignored) && fd_ < 0) {
      *error = ignored;
      return false;
    }
    switch (ring_->Push(payload)) {
      case ReleaseRing::PushResult::kQueued:
        return true;
      case ReleaseRing::PushResult::kQueuedRing: {
        // The broker sleeps without reading the rings: wake it. A full connection has woken it already.
        if (SendPacket(fd_, protocol::Encode(protocol::Type::kRingDoorbell, false, {}), -1, MSG_DONTWAIT) ||
            errno == EAGAIN || errno == EWOULDBLOCK) {
          return true;
        }
        *error = std::string("the broker connection failed (") + std::strerror(errno) +
                 "): the broker is gone, and every hold of this process with it";
        Disconnect();
        return false;
      }
      case ReleaseRing::PushResult::kFull:
        break;  // the broker has not read the ring lately: on the connection, which wakes it
    }
  }
  if (revision_ < 2) {
    std::vector<uint8_t> body;
    bool lost = false;
    protocol::StatusCodeReply reply;
    return TransactOnce(protocol::Type::kRelease, FixedBody(protocol::EncodeBody(request)), -1, &body,
                        nullptr, &lost, error) &&
           DecodeReply(body, &reply, error);
  }
  // Normally the release is in the broker's queue when this returns (what makes vkFreeMemory's effect
  // immediate for other processes): on the release socket, which the broker reads before it answers anything
  // that depends on it, without being woken now. Releases commute, so one may take either way: when the
  // release socket is full (the broker has not read it yet: it does before its next answer, or within 1 s),
  // on the connection, which wakes the broker, and it reads both.
  if (release_fd_ >= 0 && unsent_releases_.empty()) {
    std::vector<uint8_t> bytes = protocol::EncodeMessage(protocol::Type::kReleaseOneWay, false, request);
    if (SendPacket(release_fd_, bytes, -1, MSG_DONTWAIT)) return true;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = std::string("the broker's release socket failed (") + std::strerror(errno) +
               "): the broker is gone, and every hold of this process with it";
      Disconnect();
      return false;
    }
  }
  // A broker that took nothing for the send timeout is stalled: the release is kept, in order, and later ones
  // are not waited for again; all go out before this connection's next message (closing the connection would
  // drop every other hold of this process too).
  const bool stalled = !unsent_releases_.empty();
  unsent_releases_.push_back(request.payload);
  return FlushReleases(!stalled, error);
}

bool BrokerClient::Status(std::vector<protocol::StatusEntry>* entries, protocol::StatusReply* reply,
                          std::string* error) {
  std::lock_guard lock(mutex_);
  entries->clear();
  if (!EnsureConnected(error) || !FlushReleases(true, error)) return false;
  std::vector<uint8_t> request = protocol::Encode(protocol::Type::kStatus, false, {});
  if (!SendPacket(fd_, request)) {
    *error = "the broker connection failed while sending";
    Disconnect();
    return false;
  }
  const uint16_t entry_type = static_cast<uint16_t>(protocol::Type::kStatusEntry) | protocol::kReplyBit;
  const uint16_t end_type = static_cast<uint16_t>(protocol::Type::kStatus) | protocol::kReplyBit;
  for (;;) {
    std::vector<uint8_t> bytes;
    std::vector<int> fds;
    std::string why;
    if (ReceivePacket(fd_, &bytes, &fds, &why) != ReceiveResult::kOk || !fds.empty()) {
      CloseAll(&fds);
      *error = "the status answer from the broker broke off " + why;
      Disconnect();
      return false;
    }
    auto message = protocol::DecodeMessage(bytes, &why);
    if (message && message->header.type == entry_type) {
      protocol::StatusEntry e;
      if (!DecodeReply(std::vector<uint8_t>(message->body.begin(), message->body.end()), &e, error,
                       revision_))
        break;
      entries->push_back(std::move(e));
    } else if (message && message->header.type == end_type) {
      return DecodeReply(std::vector<uint8_t>(message->body.begin(), message->body.end()), reply, error);
    } else {
      *error = "malformed status answer from the broker: " + why;
      break;
    }
  }
  Disconnect();
  return false;
}

}  // namespace ntbridge
