#include "server.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "log.hpp"
#include "wire.hpp"

namespace ntbridge::broker {
namespace {

volatile sig_atomic_t g_stop = 0;

constexpr uint64_t kRefusedReleasesLogged = 8;
// How long a release may wait on a release socket when no request comes that reads it (protocol.hpp).
constexpr int64_t kReleaseSweepMs = 1000;
// The event loop's key of a release socket: its connection's id with this bit (ids count up from 1).
constexpr uint64_t kReleaseSocketKey = uint64_t{1} << 63;

void OnStop(int) { g_stop = 1; }

int64_t NowSeconds() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec;
}

// An integer option of a socket, -1 when it cannot be read.
int SocketOption(int fd, int option) {
  int value = -1;
  socklen_t len = sizeof value;
  return getsockopt(fd, SOL_SOCKET, option, &value, &len) == 0 ? value : -1;
}

int64_t NowMs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

template <typename T>
bool DecodeRequest(std::span<const uint8_t> body, T* m, std::string* why) {
  return protocol::DecodeBody(body, m, why);
}

// A client before revision 3 knows memory only, and no kWrongKind: a payload of another kind is none of its
// memory. Its publish is always of memory; one of a file held as a semaphore or fence is not acceptable.
protocol::OpenReply InClientTerms(protocol::OpenReply reply, uint32_t revision) {
  if (revision >= protocol::kRevisionObjectKinds || reply.status != protocol::Status::kWrongKind)
    return reply;
  return protocol::OpenReply{protocol::Status::kNotFound, 0, 0, {}};
}
protocol::PublishReply InClientTerms(protocol::PublishReply reply, uint32_t revision) {
  if (revision < protocol::kRevisionObjectKinds && reply.status == protocol::Status::kWrongKind)
    reply.status = protocol::Status::kBadRequest;
  return reply;
}

}  // namespace

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

Server::Server(int listen_fd, Registry* registry, const KmtValues* kmt, const ServerOptions& options)
    : listen_fd_(listen_fd), registry_(registry), kmt_(kmt), options_(options) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ >= 0 && !Watch(listen_fd_, 0)) {
    close(epoll_fd_);
    epoll_fd_ = -1;
  }
}

Server::~Server() {
  for (auto& [id, c] : connections_) {
    CloseAll(&c.pending_fds);
    close(c.fd);
    if (c.release_fd >= 0) close(c.release_fd);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

bool Server::Watch(int fd, uint64_t key) {
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = key;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &e) != 0) {
    NTBRIDGE_LOG(LogLevel::kError, std::string("epoll_ctl(EPOLL_CTL_ADD) failed: ") + std::strerror(errno));
    return false;
  }
  ++watched_;
  return true;
}

void Server::Unwatch(int fd) {
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) == 0) --watched_;
}

void Server::WatchReleaseSocket(Connection& c, bool watch) {
  if (c.release_fd < 0 || c.release_watched == watch) return;
  if (watch) {
    c.release_watched = Watch(c.release_fd, c.id | kReleaseSocketKey);
  } else {
    Unwatch(c.release_fd);
    c.release_watched = false;
  }
}

void Server::Accept() {
  int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
      NTBRIDGE_LOG(LogLevel::kError, std::string("accept failed: ") + std::strerror(errno));
      if (errno == EMFILE || errno == ENFILE) usleep(100000);  // let connections close first
    }
    return;
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
    NTBRIDGE_LOG(LogLevel::kWarn, "refused a connection from pid " + std::to_string(cred.pid) + " of uid " +
                                      std::to_string(cred.uid) + ": this broker serves uid " +
                                      std::to_string(geteuid()) + " only");
    close(fd);
    return;
  }
  if (connections_.size() >= options_.max_connections) {
    NTBRIDGE_LOG(LogLevel::kWarn, "refused pid " + std::to_string(cred.pid) + ": too many connections");
    close(fd);
    return;
  }
  Connection c;
  c.fd = fd;
  c.id = next_id_++;
  c.pid = cred.pid;
  timeval timeout{5, 0};  // a peer that stops reading must not stall everyone else
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (!Watch(fd, c.id)) {
    close(fd);
    return;
  }
  connections_[c.id] = std::move(c);
  NTBRIDGE_LOG(LogLevel::kDebug,
               "connection " + std::to_string(next_id_ - 1) + " from pid " + std::to_string(cred.pid));
}

void Server::CloseConnection(Connection& c, const std::string& why) {
  NTBRIDGE_LOG(why.empty() ? LogLevel::kDebug : LogLevel::kWarn,
               "connection " + std::to_string(c.id) + " of pid " + std::to_string(c.pid) + " closed" +
                   (why.empty() ? "" : ": " + why));
  if (c.refused_releases > kRefusedReleasesLogged) {
    NTBRIDGE_LOG(LogLevel::kWarn, "pid " + std::to_string(c.pid) + ": " + std::to_string(c.refused_releases) +
                                      " one-way releases refused in all on connection " +
                                      std::to_string(c.id));
  }
  // Whatever its release socket still holds is moot: every hold of the connection goes.
  registry_->Drop(c.id);
  CloseAll(&c.pending_fds);
  Unwatch(c.fd);
  close(c.fd);
  WatchReleaseSocket(c, false);
  if (c.release_fd >= 0) close(c.release_fd);
  c.release_fd = -1;
  c.ring.reset();
}

bool Server::Reply(Connection& c, protocol::Type type, const std::vector<uint8_t>& body, int fd) {
  return SendPacket(c.fd, protocol::Encode(type, true, body), fd);
}

bool Server::Handle(Connection& c, uint16_t type, std::span<const uint8_t> body, std::vector<int>& fds,
                    std::string* why) {
  using protocol::Type;
  const bool wants_fd =
      type == static_cast<uint16_t>(Type::kPublish) || type == static_cast<uint16_t>(Type::kReleaseSocket);
  if (fds.size() != (wants_fd ? 1u : 0u)) {
    *why =
        "message type " + std::to_string(type) + " came with " + std::to_string(fds.size()) + " descriptors";
    return false;
  }
  switch (static_cast<Type>(type)) {
    case Type::kPublish: {
      protocol::PublishRequest r;
      if (!protocol::DecodeBody(body, &r, why, c.revision)) return false;
      if (!DrainReleases(&c, why)) return false;  // a name released elsewhere is free again
      int fd = fds[0];
      fds.clear();  // the registry owns it now
      return Reply(c, Type::kPublish,
                   protocol::EncodeBody(InClientTerms(registry_->Publish(c.id, c.pid, r, fd), c.revision)));
    }
    case Type::kOpen: {
      protocol::OpenRequest r;
      if (!protocol::DecodeBody(body, &r, why, c.revision)) return false;
      if (!DrainReleases(&c, why)) return false;  // a name or KMT value released elsewhere is gone
      int fd = -1;
      protocol::OpenReply reply = InClientTerms(registry_->Open(c.id, c.pid, r, &fd), c.revision);
      return Reply(c, Type::kOpen, protocol::EncodeBody(reply, c.revision), fd);
    }
    case Type::kShareKmt: {
      // Only the sender's own holds count, and its own releases came before this, on its connection, its
      // release socket or its ring.
      protocol::PayloadRequest r;
      if (!DecodeRequest(body, &r, why) || !TakeOwnReleases(c, why)) return false;
      return Reply(c, Type::kShareKmt, protocol::EncodeBody(registry_->ShareKmt(c.id, r.payload)));
    }
    case Type::kRelease: {
      // Also what a client whose ring is full sends: its ring is read first, which makes room.
      protocol::PayloadRequest r;
      if (!DecodeRequest(body, &r, why) || !TakeOwnReleases(c, why)) return false;
      return Reply(c, Type::kRelease, protocol::EncodeBody(registry_->Release(c.id, r.payload)));
    }
    case Type::kReleaseOneWay: {
      protocol::PayloadRequest r;
      if (!DecodeRequest(body, &r, why)) return false;
      ApplyRelease(c, r.payload);
      // On the connection although the client has a release socket or ring: that is full. Make room.
      return TakeOwnReleases(c, why);
    }
    case Type::kReleaseSocket: {
      if (c.revision < protocol::kRevisionReleaseSocket) {
        *why = "a release socket from a client of revision " + std::to_string(c.revision) + " (revision " +
               std::to_string(protocol::kRevisionReleaseSocket) + " has them)";
        return false;
      }
      if (!body.empty()) {
        *why = "release socket request with a body";
        return false;
      }
      int fd = fds[0];
      fds.clear();
      return Reply(c, Type::kReleaseSocket,
                   protocol::EncodeBody(protocol::StatusCodeReply{AdoptReleaseSocket(c, fd)}));
    }
    case Type::kReleaseRing: {
      if (c.revision < protocol::kRevisionReleaseRing) {
        *why = "a release ring asked for by a client of revision " + std::to_string(c.revision) +
               " (revision " + std::to_string(protocol::kRevisionReleaseRing) + " has them)";
        return false;
      }
      if (!body.empty()) {
        *why = "release ring request with a body";
        return false;
      }
      int fd = -1;
      const protocol::Status status = MakeReleaseRing(c, &fd);
      const bool sent =
          Reply(c, Type::kReleaseRing, protocol::EncodeBody(protocol::StatusCodeReply{status}), fd);
      if (fd >= 0) close(fd);  // the broker keeps its mapping
      return sent;
    }
    case Type::kRingDoorbell: {
      if (!body.empty()) {
        *why = "doorbell with a body";
        return false;
      }
      // The broker slept without reading the rings: read them now, and on the timer while releases come. A
      // doorbell needs no exactness (it answers nothing): the connections are left to their turn.
      bool took = false;
      if (!TakeRings(&c, &took, why)) return false;
      NoteTook(took);
      return true;
    }
    case Type::kHello: {
      protocol::HelloRequest r;
      if (!DecodeRequest(body, &r, why)) return false;
      c.revision = std::min(r.revision, protocol::kRevision);  // a newer client keeps to ours
      NTBRIDGE_LOG(LogLevel::kDebug,
                   "connection " + std::to_string(c.id) + " speaks revision " + std::to_string(r.revision));
      return Reply(c, Type::kHello, protocol::EncodeBody(protocol::HelloReply{}));
    }
    case Type::kStatus: {
      if (!body.empty()) {
        *why = "status request with a body";
        return false;
      }
      if (!DrainReleases(&c, why)) return false;  // what was released before this request is not listed
      for (const auto& e : registry_->Snapshot()) {
        // A client before revision 3 sees every payload, without its kind.
        if (!Reply(c, Type::kStatusEntry, protocol::EncodeBody(e, c.revision))) return false;
      }
      protocol::StatusReply end;
      end.broker_pid = static_cast<uint32_t>(getpid());
      end.connections = static_cast<uint32_t>(connections_.size());
      end.payloads = static_cast<uint32_t>(registry_->size());
      end.kmt_generation = kmt_->generation();
      return Reply(c, Type::kStatus, protocol::EncodeBody(end));
    }
    default:
      *why = "message type " + std::to_string(type) + " is not a request";
      return false;
  }
}

bool Server::Process(Connection& c, std::span<const uint8_t> bytes, std::vector<int>& fds, std::string* why) {
  auto message = protocol::DecodeMessage(bytes, why);
  bool ok = message && (message->header.type & protocol::kReplyBit) == 0 &&
            Handle(c, message->header.type, message->body, fds, why);
  CloseAll(&fds);
  if (!ok && message && why->empty())
    *why = (message->header.type & protocol::kReplyBit) ? "sent a reply" : "send failed";
  return ok;
}

void Server::ApplyRelease(Connection& c, uint64_t payload) {
  protocol::StatusCodeReply result = registry_->Release(c.id, payload);
  if (result.status != protocol::Status::kOk && ++c.refused_releases <= kRefusedReleasesLogged) {
    // No reply goes back: the sender's vkFreeMemory has returned. A payload of an earlier broker (its holds
    // died with it) is the harmless cause; anything else is a bug of the sender.
    char text[24];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(payload));
    NTBRIDGE_LOG(LogLevel::kWarn, "pid " + std::to_string(c.pid) + ": one-way release of payload " + text +
                                      " refused: " + protocol::StatusName(result.status) +
                                      (c.refused_releases == kRefusedReleasesLogged
                                           ? " (further refused releases of this connection are only counted)"
                                           : ""));
  }
}

protocol::Status Server::MakeReleaseRing(Connection& c, int* fd) {
  *fd = -1;
  if (c.ring != nullptr || c.release_fd >= 0) {
    NTBRIDGE_LOG(LogLevel::kWarn,
                 "pid " + std::to_string(c.pid) +
                     ": release ring refused: the connection has a ring or a release socket");
    return protocol::Status::kBadRequest;
  }
  std::string error;
  c.ring = ReleaseRing::Create(fd, &error);
  if (c.ring == nullptr) {
    // The client sends its releases on a release socket instead.
    NTBRIDGE_LOG(LogLevel::kWarn, "pid " + std::to_string(c.pid) + ": cannot make a release ring: " + error);
    return protocol::Status::kTooMany;
  }
  c.ring->SetDoorbell(release_sockets_polled_);
  NTBRIDGE_LOG(LogLevel::kDebug, "connection " + std::to_string(c.id) + " writes its releases into a ring");
  return protocol::Status::kOk;
}

bool Server::TakeRing(Connection& c, bool* took, std::string* why) {
  if (c.ring == nullptr) return true;
  return c.ring->Take([&](uint64_t payload) { ApplyRelease(c, payload); }, took, why);
}

bool Server::TakeOwnReleases(Connection& c, std::string* why) {
  bool took = false;
  const bool ok = TakeReleases(c, false, false, &took, why) && TakeRing(c, &took, why);
  NoteTook(took);
  return ok;
}

void Server::NoteTook(bool took) {
  if (!took) return;
  // More may follow, each without a wake-up: the timer reads them 1 s from now (server.hpp).
  if (release_sockets_polled_) SetReleasesPolled(false);
  release_sweep_at_ms_ = NowMs() + kReleaseSweepMs;
}

bool Server::TakeRings(Connection* requester, bool* took, std::string* why) {
  bool ok = true;
  for (auto it = connections_.begin(); it != connections_.end();) {
    std::string wrong;
    if (TakeRing(it->second, took, &wrong)) {
      ++it;
    } else if (&it->second == requester) {
      if (why != nullptr) *why = wrong;
      ok = false;
      ++it;
    } else {
      CloseConnection(it->second, wrong);
      it = connections_.erase(it);
    }
  }
  return ok;
}

void Server::SetReleasesPolled(bool polled) {
  release_sockets_polled_ = polled;
  for (auto& [id, c] : connections_) {
    if (c.ring != nullptr) c.ring->SetDoorbell(polled);
    WatchReleaseSocket(c, polled);
  }
}

protocol::Status Server::AdoptReleaseSocket(Connection& c, int fd) {
  // The broker only ever reads it, without waiting: what matters is that it is what the client says, a
  // connected Unix seqpacket socket of this user, so that reading it yields whole messages or its end.
  struct stat st {};
  ucred cred{};
  socklen_t len = sizeof cred;
  const char* refused = nullptr;
  // A ring its client never wrote into (it could not map it) gives way to the socket.
  if (c.ring != nullptr && c.ring->Unused()) c.ring.reset();
  if (c.release_fd >= 0 || c.ring != nullptr) {
    refused = "the connection has one already, or a release ring";
  } else if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    refused = "not a socket";
  } else if (SocketOption(fd, SO_DOMAIN) != AF_UNIX || SocketOption(fd, SO_TYPE) != SOCK_SEQPACKET) {
    refused = "not a Unix seqpacket socket";
  } else if (SocketOption(fd, SO_ACCEPTCONN) != 0 ||
             getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid == 0 ||
             cred.uid != geteuid()) {
    refused = "not a socket connected to a process of this user";
  }
  if (refused != nullptr) {
    close(fd);
    NTBRIDGE_LOG(LogLevel::kWarn, "pid " + std::to_string(c.pid) + ": release socket refused: " + refused);
    return protocol::Status::kBadRequest;
  }
  c.release_fd = fd;
  WatchReleaseSocket(c, release_sockets_polled_);
  NTBRIDGE_LOG(LogLevel::kDebug, "connection " + std::to_string(c.id) + " sends its releases on a socket");
  return protocol::Status::kOk;
}

// Exactly what was queued when the reading began (FIONREAD: every byte of every queued packet), as for a
// connection in DrainReleases: whatever the client sends meanwhile cannot hold the loop.
bool Server::TakeReleases(Connection& c, bool ready, bool hung_up, bool* took, std::string* why) {
  if (c.release_fd < 0) return true;
  // Usually a few releases wait: one recvmmsg reads them all and finds the queue empty, which proves that
  // nothing queued before it is left, without FIONREAD and one recvmsg per release (each system call costs
  // 1.5-2.5 us on the VM of docs/performance.md, part 2, on the path of every open). A full batch goes on
  // below.
  const int batch = ReceiveSmallPackets(c.release_fd, release_batch_);
  if (batch < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    *why = std::string("its release socket: ") + std::strerror(errno);
    return false;
  }
  for (int i = 0; i < batch; ++i) {
    const SmallPacket& p = release_batch_[static_cast<size_t>(i)];
    if (p.size == 0 && p.descriptors == 0) {
      why->clear();  // the client went away (or closed it): its connection goes with it
      return false;
    }
    std::string wrong;
    protocol::PayloadRequest r;
    auto message = p.too_long ? std::nullopt
                              : protocol::DecodeMessage(std::span<const uint8_t>(p.bytes, p.size), &wrong);
    if (p.too_long) {
      *why = "its release socket: a message longer than a release";
    } else if (!message) {
      *why = "malformed message on its release socket: " + wrong;
    } else if (message->header.type != static_cast<uint16_t>(protocol::Type::kReleaseOneWay)) {
      *why = "message type " + std::to_string(message->header.type) +
             " on its release socket, where only one-way releases may come";
    } else if (p.descriptors != 0) {
      *why = "a release came with descriptors on its release socket";
    } else if (!protocol::DecodeBody(message->body, &r, &wrong)) {
      *why = "malformed release on its release socket: " + wrong;
    } else {
      ApplyRelease(c, r.payload);
      *took = true;
      continue;
    }
    return false;
  }
  // Fewer than one call can read: the queue was empty (the bound is the function's, not the array's).
  if (batch < static_cast<int>(std::min(release_batch_.size(), kMaxSmallPackets)) && !hung_up) return true;
  int queued = 0;
  if (ioctl(c.release_fd, FIONREAD, &queued) != 0) queued = 0;
  // An empty packet counts no byte, yet makes the socket readable: where poll said so, one read at least.
  if (ready) queued = std::max(queued, 1);
  for (size_t taken = 0; hung_up || taken < static_cast<size_t>(queued);) {
    std::vector<int> fds;
    std::string wrong;
    switch (ReceivePacket(c.release_fd, &release_buffer_, &fds, &wrong, false)) {
      case ReceiveResult::kEmpty:
        return true;
      case ReceiveResult::kClosed:
        why->clear();  // the client went away (or closed it): its connection goes with it
        return false;
      case ReceiveResult::kError:
      case ReceiveResult::kMalformed:
        *why = "its release socket: " + wrong;
        return false;
      case ReceiveResult::kOk:
        break;
    }
    taken += std::max<size_t>(release_buffer_.size(), 1);
    auto message = protocol::DecodeMessage(release_buffer_, &wrong);
    protocol::PayloadRequest r;
    if (!message) {
      *why = "malformed message on its release socket: " + wrong;
    } else if (message->header.type != static_cast<uint16_t>(protocol::Type::kReleaseOneWay)) {
      *why = "message type " + std::to_string(message->header.type) +
             " on its release socket, where only one-way releases may come";
    } else if (!fds.empty()) {
      *why = "a release came with descriptors on its release socket";
    } else if (!protocol::DecodeBody(message->body, &r, &wrong)) {
      *why = "malformed release on its release socket: " + wrong;
    } else {
      ApplyRelease(c, r.payload);
      *took = true;
      continue;
    }
    CloseAll(&fds);
    return false;
  }
  return true;
}

// Exact because a one-way release is in its client's ring, or queued on its connection or release socket,
// before its sender's call returns: a request that another process sends after that finds it there (or
// already taken). The rings are read directly. Every connection with something queued when the request being
// answered was sent is in the event loop's current harvest (ready_, Run): the kernel adds a connection to the
// ready list when data or a hang-up arrives on it, and keeps one with unread data there, and each epoll_wait
// takes the whole list, so the harvest that brought the request brought every connection that was ready
// before it. Reading a connection stops at its first message of another kind, which keeps each connection's
// order; nothing queued behind such a message can be a release its sender has completed, as a client sends
// nothing while its request waits (protocol.hpp). A release socket carries releases only, all sent before the
// client's next request, so it is read whatever waits on the connection; release sockets are polled here, as
// they are not in the event loop while releases come. A connection still in the listen backlog holds nothing,
// so it has nothing to release.
bool Server::DrainReleases(Connection* requester, std::string* why) {
  const ConnectionId except = requester != nullptr ? requester->id : 0;
  bool took = false;
  bool ok = true;
  for (const Ready& ready : ready_) {
    if (ready.id == except) continue;
    auto it = connections_.find(ready.id);
    if (it == connections_.end() || it->second.has_pending) continue;  // closed, or read up to a request
    // A peer that hung up sends nothing more: its socket is read to the end, which drops its holds.
    if (!ReadQueuedReleases(it->second, (ready.events & (EPOLLHUP | EPOLLERR)) != 0)) connections_.erase(it);
  }
  drain_fds_.clear();
  drain_entries_.clear();
  for (const auto& [id, c] : connections_) {
    if (c.release_fd >= 0) {
      drain_fds_.push_back({c.release_fd, POLLIN, 0});
      drain_entries_.push_back({id, true});
    }
  }
  int n = 0;
  if (!drain_fds_.empty()) {
    do {
      n = poll(drain_fds_.data(), drain_fds_.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) NTBRIDGE_LOG(LogLevel::kError, std::string("poll failed: ") + std::strerror(errno));
  }
  for (size_t i = 0; n > 0 && i < drain_fds_.size(); ++i) {
    if (drain_fds_[i].revents == 0) continue;
    auto it = connections_.find(drain_entries_[i].id);
    if (it == connections_.end()) continue;  // closed by an earlier entry of this drain
    Connection& c = it->second;
    const bool hung_up = (drain_fds_[i].revents & (POLLHUP | POLLERR)) != 0;
    std::string wrong;
    if (TakeReleases(c, true, hung_up, &took, &wrong)) continue;
    if (c.id == except) {
      if (ok) *why = wrong.empty() ? "its release socket was closed" : wrong;
      ok = false;
    } else {
      CloseConnection(c, wrong);
      connections_.erase(it);
    }
  }
  // The rings last (no system call): a doorbell the connections' reading skipped was rung after its release
  // was written, so that release is found here.
  if (!TakeRings(requester, &took, ok ? why : nullptr)) ok = false;
  // Releases came on release sockets or rings: more may follow, each without a wake-up, so the timer reads
  // them 1 s from now; when the timer finds none, the sockets are polled again and the rings' doorbells set
  // (Run, and server.hpp). A release written into a ring just before its doorbell was set is found by the
  // second look (release_ring.hpp).
  if (!took && requester == nullptr && !release_sockets_polled_ && NowMs() >= release_sweep_at_ms_) {
    SetReleasesPolled(true);
    ok = TakeRings(nullptr, &took, why) && ok;
  }
  NoteTook(took);
  return ok;
}

bool Server::ReadQueuedReleases(Connection& c, bool hung_up) {
  c.read_in_harvest = harvest_;  // what comes next from it is not known to be older than the harvest
  // Exactly what was queued when the drain began (FIONREAD: every byte of every queued packet): each
  // release completed before the request being answered was read is in it, whatever the sender's buffer
  // size, and what a connection sends meanwhile cannot hold the loop.
  int queued = 0;
  if (ioctl(c.fd, FIONREAD, &queued) != 0) queued = 0;
  for (size_t taken = 0; hung_up || taken < static_cast<size_t>(queued);) {
    std::vector<int> fds;
    std::string wrong;
    ReceiveResult r = ReceivePacket(c.fd, &drain_buffer_, &fds, &wrong, false);
    if (r == ReceiveResult::kEmpty) break;
    if (r != ReceiveResult::kOk) {
      CloseConnection(c, r == ReceiveResult::kClosed ? std::string() : wrong);
      return false;
    }
    taken += std::max<size_t>(drain_buffer_.size(), 1);
    std::string ignored;
    auto message = protocol::DecodeMessage(drain_buffer_, &ignored);
    const uint16_t type = message ? message->header.type : 0;
    // A doorbell says nothing the drain does not do anyway (it reads every ring), and a release of a client
    // whose ring was full may be queued behind one.
    if (type == static_cast<uint16_t>(protocol::Type::kRingDoorbell) && fds.empty() && message->body.empty())
      continue;
    if (type != static_cast<uint16_t>(protocol::Type::kReleaseOneWay)) {
      c.pending.swap(drain_buffer_);
      c.pending_fds = std::move(fds);
      c.has_pending = true;
      pending_ids_.push_back(c.id);
      return true;
    }
    if (!Process(c, drain_buffer_, fds, &wrong)) {
      CloseConnection(c, "malformed request: " + wrong);
      return false;
    }
  }
  return true;
}

bool Server::Serve(Connection& c) {
  std::vector<int> fds;
  std::string why;
  bool ok;
  if (c.has_pending) {
    std::vector<uint8_t> bytes = std::move(c.pending);
    fds = std::move(c.pending_fds);
    c.pending.clear();
    c.pending_fds.clear();
    c.has_pending = false;
    ok = Process(c, bytes, fds, &why);
  } else {
    switch (ReceivePacket(c.fd, &buffer_, &fds, &why, false)) {
      case ReceiveResult::kEmpty:
        return true;  // DrainReleases took what poll saw
      case ReceiveResult::kClosed:
        CloseConnection(c, {});
        return false;
      case ReceiveResult::kError:
      case ReceiveResult::kMalformed:
        CloseConnection(c, why);
        return false;
      case ReceiveResult::kOk:
        break;
    }
    ok = Process(c, buffer_, fds, &why);
  }
  if (!ok) CloseConnection(c, "malformed request: " + why);
  return ok;
}

int Server::Run() {
  if (epoll_fd_ < 0) {
    NTBRIDGE_LOG(LogLevel::kError, std::string("cannot set up the event loop: ") + std::strerror(errno));
    return 1;
  }
  int64_t idle_since = NowSeconds();
  std::vector<ConnectionId> pending;
  while (!g_stop) {
    int timeout = pending_ids_.empty() ? -1 : 0;  // a message read ahead waits for no new one
    if (options_.idle_exit_seconds > 0 && connections_.empty()) {
      int64_t left = idle_since + options_.idle_exit_seconds - NowSeconds();
      // A connection waiting in the backlog is not idleness.
      pollfd backlog{listen_fd_, POLLIN, 0};
      if (left <= 0 && poll(&backlog, 1, 0) == 0) {
        NTBRIDGE_LOG(LogLevel::kInfo,
                     "idle for " + std::to_string(options_.idle_exit_seconds) + " s, exiting");
        return 0;
      }
      timeout = static_cast<int>(std::max<int64_t>(left, 0) * 1000);
    }
    std::string ignored;  // DrainReleases closes the connections it finds broken (there is no requester)
    if (!release_sockets_polled_) {
      // Releases wait unpolled on release sockets and in rings: read them once their time is up
      // (protocol.hpp). Only a drain that took some leaves the sockets unpolled, and the first sweep that
      // finds none polls them again, whatever connections are left by then.
      int64_t left = release_sweep_at_ms_ - NowMs();
      if (left <= 0) {
        ready_.clear();
        DrainReleases(nullptr, &ignored);
        continue;
      }
      timeout = timeout < 0 ? static_cast<int>(left) : std::min(timeout, static_cast<int>(left));
    }
    // Room for every watched descriptor: a harvest that left some behind would break DrainReleases' promise.
    events_.resize(watched_ + 1);
    int n = epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      NTBRIDGE_LOG(LogLevel::kError, std::string("epoll_wait failed: ") + std::strerror(errno));
      return 1;
    }
    if (options_.harvest_delay_ms > 0 && n > 0)
      usleep(static_cast<useconds_t>(options_.harvest_delay_ms) * 1000);
    // What was read ahead before this harvest is covered by it (DrainReleases): it is answered in this turn;
    // what a drain reads ahead in this turn waits for the next harvest.
    ++harvest_;
    pending.swap(pending_ids_);
    pending_ids_.clear();
    ready_.clear();
    bool accept = false;
    bool release_socket = false;
    for (int i = 0; i < n; ++i) {
      const uint64_t key = events_[static_cast<size_t>(i)].data.u64;
      if (key == 0) {
        accept = true;
      } else if (key & kReleaseSocketKey) {
        release_socket = true;
      } else {
        ready_.push_back({key, events_[static_cast<size_t>(i)].events});
      }
    }
    // A release (or a hang-up) on a watched release socket: the first since the sockets went quiet.
    if (release_socket) DrainReleases(nullptr, &ignored);
    // Found again each time: serving one connection may close others (DrainReleases). One that a drain of
    // this turn has read is left to the next harvest: its next message may be younger than this one, which
    // a drain answering it would need (level-triggered, the harvest brings it back while data waits).
    for (const Ready& ready : ready_) {
      auto it = connections_.find(ready.id);
      if (it == connections_.end() || it->second.read_in_harvest == harvest_) continue;
      if (!Serve(it->second)) connections_.erase(it);
    }
    for (ConnectionId id : pending) {
      auto it = connections_.find(id);
      if (it != connections_.end() && it->second.has_pending && !Serve(it->second)) connections_.erase(it);
    }
    if (accept) Accept();
    if (connections_.empty() && idle_since == 0) idle_since = NowSeconds();
    if (!connections_.empty()) idle_since = 0;
  }
  NTBRIDGE_LOG(LogLevel::kInfo, "stopping on a signal");
  return 0;
}

}  // namespace ntbridge::broker
