#include "demo_protocol.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.hpp"

namespace ntbridge::tool {

void SendDemo(int socket, DemoKind kind, uint32_t frame, uint64_t checksum, uint64_t bytes,
              const std::string& text) {
  DemoMessage message;
  message.kind = kind;
  message.frame = frame;
  message.checksum = checksum;
  message.bytes = bytes;
  std::strncpy(message.text, text.c_str(), sizeof message.text - 1);
  if (send(socket, &message, sizeof message, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof message)) {
    throw ToolError(std::string("sending a demo message failed: ") + std::strerror(errno),
                    "the other demo process has probably died; look above for its error");
  }
}

namespace {

// One record; nothing when `flags` has MSG_DONTWAIT and none has arrived.
std::optional<DemoMessage> Receive(int socket, const char* peer, int flags) {
  DemoMessage message;
  ssize_t n;
  do {
    n = recv(socket, &message, sizeof message, flags);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && (flags & MSG_DONTWAIT)) return std::nullopt;
  if (n == 0) {
    throw ToolError(std::string("the ") + peer + " process closed the connection",
                    "look above for its error message");
  }
  if (n != static_cast<ssize_t>(sizeof message) || message.kind < DemoKind::kReady ||
      message.kind > DemoKind::kError) {
    throw ToolError(std::string("malformed message from the ") + peer + " process",
                    "run both processes from the same ntbridge build");
  }
  message.text[sizeof message.text - 1] = '\0';
  if (message.kind == DemoKind::kError) {
    throw ToolError(std::string("the ") + peer + " process failed: " + message.text, "see its message above");
  }
  return message;
}

}  // namespace

DemoMessage ReceiveDemo(int socket, const char* peer) { return *Receive(socket, peer, 0); }

std::optional<DemoMessage> PollDemo(int socket, const char* peer) {
  return Receive(socket, peer, MSG_DONTWAIT);
}

void PeekDemo(int socket, const char* peer) {
  char byte;
  if (recv(socket, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
    throw ToolError(std::string("the ") + peer + " process closed the connection",
                    "look above for its error message");
  }
}

void SendSetup(int socket, const DemoSetup& setup, const NtHandle& ready, const NtHandle& freed) {
  iovec data{const_cast<DemoSetup*>(&setup), sizeof setup};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  if (ready && freed) {
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(2 * sizeof(int));
    const int fds[2] = {ready.fd(), freed.fd()};
    std::memcpy(CMSG_DATA(c), fds, sizeof fds);  // the kernel gives the receiver duplicates
  }
  if (sendmsg(socket, &message, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof setup)) {
    throw ToolError(std::string("sending the demo's setup failed: ") + std::strerror(errno),
                    "the consumer process has probably died; look above for its error");
  }
}

ReceivedSetup ReceiveSetup(int socket) {
  ReceivedSetup received;
  iovec data{&received.setup, sizeof received.setup};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  int count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const int here = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < here; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (count < 2) {
        received.handles[count] = NtHandle::FromFd(fd);
      } else {
        close(fd);
      }
      ++count;
    }
  }
  if (n < 0) {
    throw ToolError(std::string("receiving the demo's setup failed: ") + std::strerror(errno),
                    "look above for the producer's error message");
  }
  if (n == 0) {
    throw ToolError("the producer process closed the connection", "look above for its error message");
  }
  const DemoSetup& s = received.setup;
  if (n != static_cast<ssize_t>(sizeof s) || (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
      (count != 0 && count != 2) || s.sync > 1 || s.ring == 0 || s.slot_size == 0 ||
      s.name[0][NTBRIDGE_MAX_NAME] != L'\0' || s.name[1][NTBRIDGE_MAX_NAME] != L'\0') {
    throw ToolError("malformed setup from the producer process",
                    "run both processes from the same ntbridge build");
  }
  return received;
}

}  // namespace ntbridge::tool
