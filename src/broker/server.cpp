#include "server.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

#include "log.hpp"
#include "wire.hpp"

namespace ntbridge::broker {
namespace {

volatile sig_atomic_t g_stop = 0;

void OnStop(int) { g_stop = 1; }

int64_t NowSeconds() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec;
}

template <typename T>
bool DecodeRequest(std::span<const uint8_t> body, T* m, std::string* why) {
  return protocol::DecodeBody(body, m, why);
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
    : listen_fd_(listen_fd), registry_(registry), kmt_(kmt), options_(options) {}

Server::~Server() {
  for (auto& [fd, c] : connections_) close(fd);
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
  Connection c{fd, next_id_++, cred.pid};
  timeval timeout{5, 0};  // a peer that stops reading must not stall everyone else
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  connections_[fd] = c;
  NTBRIDGE_LOG(LogLevel::kDebug, "connection " + std::to_string(c.id) + " from pid " + std::to_string(c.pid));
}

void Server::CloseConnection(Connection& c, const std::string& why) {
  NTBRIDGE_LOG(why.empty() ? LogLevel::kDebug : LogLevel::kWarn,
               "connection " + std::to_string(c.id) + " of pid " + std::to_string(c.pid) + " closed" +
                   (why.empty() ? "" : ": " + why));
  registry_->Drop(c.id);
  close(c.fd);
}

bool Server::Reply(Connection& c, protocol::Type type, const std::vector<uint8_t>& body, int fd) {
  return SendPacket(c.fd, protocol::Encode(type, true, body), fd);
}

bool Server::Handle(Connection& c, uint16_t type, std::span<const uint8_t> body, std::vector<int>& fds,
                    std::string* why) {
  using protocol::Type;
  const bool wants_fd = type == static_cast<uint16_t>(Type::kPublish);
  if (fds.size() != (wants_fd ? 1u : 0u)) {
    *why =
        "message type " + std::to_string(type) + " came with " + std::to_string(fds.size()) + " descriptors";
    return false;
  }
  switch (static_cast<Type>(type)) {
    case Type::kPublish: {
      protocol::PublishRequest r;
      if (!DecodeRequest(body, &r, why)) return false;
      int fd = fds[0];
      fds.clear();  // the registry owns it now
      return Reply(c, Type::kPublish, protocol::EncodeBody(registry_->Publish(c.id, c.pid, r, fd)));
    }
    case Type::kOpen: {
      protocol::OpenRequest r;
      if (!DecodeRequest(body, &r, why)) return false;
      int fd = -1;
      protocol::OpenReply reply = registry_->Open(c.id, c.pid, r, &fd);
      return Reply(c, Type::kOpen, protocol::EncodeBody(reply), fd);
    }
    case Type::kShareKmt: {
      protocol::PayloadRequest r;
      if (!DecodeRequest(body, &r, why)) return false;
      return Reply(c, Type::kShareKmt, protocol::EncodeBody(registry_->ShareKmt(c.id, r.payload)));
    }
    case Type::kRelease: {
      protocol::PayloadRequest r;
      if (!DecodeRequest(body, &r, why)) return false;
      return Reply(c, Type::kRelease, protocol::EncodeBody(registry_->Release(c.id, r.payload)));
    }
    case Type::kStatus: {
      if (!body.empty()) {
        *why = "status request with a body";
        return false;
      }
      for (const auto& e : registry_->Snapshot()) {
        if (!Reply(c, Type::kStatusEntry, protocol::EncodeBody(e))) return false;
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

bool Server::Serve(Connection& c) {
  std::vector<uint8_t> bytes;
  std::vector<int> fds;
  std::string why;
  switch (ReceivePacket(c.fd, &bytes, &fds, &why)) {
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
  auto message = protocol::DecodeMessage(bytes, &why);
  bool ok = message && (message->header.type & protocol::kReplyBit) == 0 &&
            Handle(c, message->header.type, message->body, fds, &why);
  CloseAll(&fds);
  if (!ok) {
    if (message && why.empty())
      why = (message->header.type & protocol::kReplyBit) ? "sent a reply" : "send failed";
    CloseConnection(c, "malformed request: " + why);
  }
  return ok;
}

int Server::Run() {
  int64_t idle_since = NowSeconds();
  while (!g_stop) {
    std::vector<pollfd> fds;
    fds.push_back({listen_fd_, POLLIN, 0});
    for (auto& [fd, c] : connections_) fds.push_back({fd, POLLIN, 0});
    int timeout = -1;
    if (options_.idle_exit_seconds > 0 && connections_.empty()) {
      int64_t left = idle_since + options_.idle_exit_seconds - NowSeconds();
      // A connection waiting in the backlog is not idleness.
      pollfd pending{listen_fd_, POLLIN, 0};
      if (left <= 0 && poll(&pending, 1, 0) == 0) {
        NTBRIDGE_LOG(LogLevel::kInfo,
                     "idle for " + std::to_string(options_.idle_exit_seconds) + " s, exiting");
        return 0;
      }
      timeout = static_cast<int>(std::max<int64_t>(left, 0) * 1000);
    }
    int n = poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      NTBRIDGE_LOG(LogLevel::kError, std::string("poll failed: ") + std::strerror(errno));
      return 1;
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto it = connections_.find(fds[i].fd);
      if (it == connections_.end()) continue;
      if (!Serve(it->second)) connections_.erase(it);
    }
    if (fds[0].revents & POLLIN) Accept();
    if (connections_.empty() && idle_since == 0) idle_since = NowSeconds();
    if (!connections_.empty()) idle_since = 0;
  }
  NTBRIDGE_LOG(LogLevel::kInfo, "stopping on a signal");
  return 0;
}

}  // namespace ntbridge::broker
