#include "wire.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "protocol.hpp"

namespace ntbridge {
namespace {

constexpr size_t kMaxFds = 4;  // more than any message carries, so that extra ones are seen and closed

}  // namespace

bool SendPacket(int socket, std::span<const uint8_t> bytes, int attach_fd, int flags) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (attach_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &attach_fd, sizeof attach_fd);
  }
  ssize_t n;
  do {
    n = sendmsg(socket, &msg, MSG_NOSIGNAL | flags);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(bytes.size());
}

ReceiveResult ReceiveFixed(int socket, void* data, size_t size, int* fd) {
  *fd = -1;
  iovec iov{data, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ReceiveResult::kError;
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
      fds.push_back(received);
    }
  }
  if (n == 0 && fds.empty()) return ReceiveResult::kClosed;
  // A stream message cut short by the peer's close, a seqpacket one of another length, or descriptors that a
  // well-formed sender never attaches: nothing of it is kept.
  if (static_cast<size_t>(n) != size || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || fds.size() > 1) {
    CloseAll(&fds);
    return ReceiveResult::kMalformed;
  }
  if (!fds.empty()) *fd = fds[0];
  return ReceiveResult::kOk;
}

bool ReceiveWithFd(int socket, void* data, size_t size, int* fd) {
  return ReceiveFixed(socket, data, size, fd) == ReceiveResult::kOk;
}

ReceiveResult ReceivePacket(int socket, std::vector<uint8_t>* bytes, std::vector<int>* fds,
                            std::string* error, bool wait) {
  fds->clear();
  // One more than the largest message, so that an oversized packet shows as truncated. On the stack: a
  // vector sized to it would be zero-filled on every call.
  uint8_t buffer[protocol::kMaxMessage + 1];
  iovec iov{buffer, sizeof buffer};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | (wait ? 0 : MSG_DONTWAIT));
  } while (n < 0 && errno == EINTR);
  if (n < 0 && !wait && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    bytes->clear();
    return ReceiveResult::kEmpty;
  }
  if (n < 0) {
    *error = std::strerror(errno);
    bytes->clear();
    return ReceiveResult::kError;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds->push_back(fd);
      }
    }
  }
  bytes->assign(buffer, buffer + n);
  if (n == 0 && fds->empty()) return ReceiveResult::kClosed;
  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    CloseAll(fds);
    *error = "too many descriptors came with one message";
    return ReceiveResult::kMalformed;
  }
  if ((msg.msg_flags & MSG_TRUNC) != 0 || static_cast<size_t>(n) > protocol::kMaxMessage) {
    CloseAll(fds);
    *error = "message is longer than " + std::to_string(protocol::kMaxMessage) + " bytes";
    return ReceiveResult::kMalformed;
  }
  return ReceiveResult::kOk;
}

int ReceiveSmallPackets(int socket, std::span<SmallPacket> out) {
  constexpr size_t kBatch = kMaxSmallPackets;
  const size_t count = std::min(out.size(), kBatch);
  mmsghdr messages[kBatch] = {};
  iovec iov[kBatch];
  alignas(cmsghdr) char control[kBatch][CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  for (size_t i = 0; i < count; ++i) {
    iov[i] = {out[i].bytes, SmallPacket::kCapacity};
    msghdr& msg = messages[i].msg_hdr;
    msg.msg_iov = &iov[i];
    msg.msg_iovlen = 1;
    msg.msg_control = control[i];
    msg.msg_controllen = sizeof control[i];
  }
  int n;
  do {
    n = recvmmsg(socket, messages, static_cast<unsigned>(count), MSG_CMSG_CLOEXEC | MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; ++i) {
    msghdr& msg = messages[i].msg_hdr;
    SmallPacket& p = out[static_cast<size_t>(i)];
    p.size = std::min<size_t>(messages[i].msg_len, SmallPacket::kCapacity);
    p.too_long = (msg.msg_flags & MSG_TRUNC) != 0;
    p.descriptors = (msg.msg_flags & MSG_CTRUNC) != 0 ? 1 : 0;  // the kernel closed what did not fit
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < fds; ++k) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
        close(fd);
      }
      p.descriptors += fds;
    }
  }
  return n;
}

void CloseAll(std::vector<int>* fds) {
  for (int fd : *fds) close(fd);
  fds->clear();
}

}  // namespace ntbridge
