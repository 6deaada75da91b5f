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

namespace {

// One record of `size` bytes with up to two descriptors (SCM_RIGHTS; the kernel gives the receiver
// duplicates).
void SendRecord(int socket, const void* record, size_t size, const int* fds, int fd_count, const char* what) {
  iovec data{const_cast<void*>(record), size};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  if (fd_count > 0) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(fd_count * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fd_count * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, fd_count * sizeof(int));
  }
  if (sendmsg(socket, &message, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) {
    throw ToolError(std::string("sending the demo's ") + what + " failed: " + std::strerror(errno),
                    "the consumer process has probably died; look above for its error");
  }
}

// Receives one record of exactly `size` bytes into `record`, and its descriptors (at most two kept, the rest
// closed); returns how many came. Throws ToolError when the peer closed or the record is malformed.
int ReceiveRecord(int socket, void* record, size_t size, NtHandle (&handles)[2], const char* what) {
  iovec data{record, size};
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
        handles[count] = NtHandle::FromFd(fd);
      } else {
        close(fd);
      }
      ++count;
    }
  }
  if (n < 0) {
    throw ToolError(std::string("receiving the demo's ") + what + " failed: " + std::strerror(errno),
                    "look above for the producer's error message");
  }
  if (n == 0) {
    throw ToolError("the producer process closed the connection", "look above for its error message");
  }
  if (n != static_cast<ssize_t>(size) || (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    throw ToolError(std::string("malformed ") + what + " from the producer process",
                    "run both processes from the same ntbridge build");
  }
  return count;
}

}  // namespace

void SendSetup(int socket, const DemoSetup& setup, const NtHandle& ready, const NtHandle& freed) {
  const int fds[2] = {ready.fd(), freed.fd()};
  SendRecord(socket, &setup, sizeof setup, fds, ready && freed ? 2 : 0, "setup");
}

ReceivedSetup ReceiveSetup(int socket) {
  ReceivedSetup received;
  const int count = ReceiveRecord(socket, &received.setup, sizeof received.setup, received.handles, "setup");
  const DemoSetup& s = received.setup;
  if ((count != 0 && count != 2) || s.sync > 1 || s.ring == 0 || s.slot_size == 0 ||
      s.name[0][NTBRIDGE_MAX_NAME] != L'\0' || s.name[1][NTBRIDGE_MAX_NAME] != L'\0') {
    throw ToolError("malformed setup from the producer process",
                    "run both processes from the same ntbridge build");
  }
  return received;
}

void SendMemoryFd(int socket, const MemoryInfo& info, int fd) {
  SendRecord(socket, &info, sizeof info, &fd, 1, "memory (by fd)");
}

ReceivedMemory ReceiveMemoryFd(int socket) {
  ReceivedMemory received;
  NtHandle handles[2];
  const int count = ReceiveRecord(socket, &received.info, sizeof received.info, handles, "memory (by fd)");
  if (count != 1 || received.info.handle_type != VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT ||
      received.info.allocation_size == 0) {
    throw ToolError("malformed memory message (by fd) from the producer process",
                    "run both processes from the same ntbridge build");
  }
  received.handle = std::move(handles[0]);
  return received;
}

}  // namespace ntbridge::tool
