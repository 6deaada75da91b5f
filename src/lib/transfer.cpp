// Sending and receiving shared memory between processes (include/ntbridge/transfer.h).
// Wire format: a fixed header {magic, version, body size} and the ntbridge_memory_info body, in one sendmsg,
// with the NT handle's descriptor as SCM_RIGHTS. The receiver reads exactly one message's length
// (MSG_WAITALL, so stream and seqpacket sockets both work) and checks everything before trusting it.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cwchar>
#include <ntbridge/transfer.hpp>
#include <stdexcept>
#include <system_error>

#include "wire.hpp"

namespace {

constexpr uint32_t kMagic = 0x4d42544e;  // "NTBM"
constexpr uint16_t kVersion = 1;
// VkExternalMemoryHandleTypeFlagBits values (this header does not need the Vulkan headers).
constexpr uint32_t kOpaqueWin32 = 0x2;
constexpr uint32_t kOpaqueWin32Kmt = 0x4;
constexpr int kMaxFds = 4;  // room to notice, and close, descriptors nobody should have sent

struct Wire {
  uint32_t magic;
  uint16_t version;
  uint16_t reserved;
  uint32_t body_size;
  uint32_t reserved2;
  ntbridge_memory_info body;
};

bool NameTerminated(const ntbridge_memory_info& info) {
  return std::wmemchr(info.name, L'\0', NTBRIDGE_MAX_NAME + 1) != nullptr;
}

// The rules both ends apply: an NT message carries exactly one of a descriptor and a name, a KMT message a
// nonzero value and nothing else.
bool Consistent(const ntbridge_memory_info& info, bool has_fd) {
  if (info.allocation_size == 0 || !NameTerminated(info)) return false;
  const bool has_name = info.name[0] != L'\0';
  switch (info.handle_type) {
    case kOpaqueWin32:
      return info.global_share == 0 && has_fd != has_name;
    case kOpaqueWin32Kmt:
      return info.global_share != 0 && !has_fd && !has_name;
    default:
      return false;
  }
}

}  // namespace

extern "C" {

int ntbridge_send_memory(int socket, const ntbridge_memory_info* info, HANDLE handle) {
  const int fd = handle == nullptr ? -1 : ntbridge_HandleToFd(handle);
  if (info == nullptr || (handle != nullptr && fd < 0) || !Consistent(*info, fd >= 0)) return EINVAL;
  Wire wire{};
  wire.magic = kMagic;
  wire.version = kVersion;
  wire.body_size = sizeof(ntbridge_memory_info);
  wire.body = *info;
  errno = 0;
  if (ntbridge::SendPacket(socket, {reinterpret_cast<const uint8_t*>(&wire), sizeof wire}, fd)) return 0;
  return errno != 0 ? errno : EMSGSIZE;  // a short send sets no errno
}

int ntbridge_receive_memory(int socket, ntbridge_memory_info* info, HANDLE* handle) {
  if (info == nullptr || handle == nullptr) return EINVAL;
  *handle = nullptr;
  Wire wire{};
  iovec iov{&wire, sizeof wire};
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
  if (n < 0) return errno;

  int fds[kMaxFds];
  int fd_count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count && fd_count < kMaxFds; ++i) {
      std::memcpy(&fds[fd_count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
  }
  auto reject = [&](int error) {
    for (int i = 0; i < fd_count; ++i) close(fds[i]);
    return error;
  };
  if (n == 0) return reject(ENODATA);
  if (n != static_cast<ssize_t>(sizeof wire) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
      wire.magic != kMagic || wire.version != kVersion || wire.body_size != sizeof(ntbridge_memory_info) ||
      fd_count > 1 || !Consistent(wire.body, fd_count == 1)) {
    return reject(EBADMSG);
  }
  int fd = fd_count == 1 ? fds[0] : -1;
  if (fd == 0) {  // never hand out a NULL handle
    const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 1);
    close(fd);
    if (moved < 0) return errno;
    fd = moved;
  }
  *info = wire.body;
  if (fd >= 0) *handle = ntbridge_FdToHandle(fd);
  return 0;
}

}  // extern "C"

namespace ntbridge {

void SendMemory(int socket, const MemoryInfo& info, const NtHandle& handle) {
  const int error = ntbridge_send_memory(socket, &info, handle.get());
  if (error != 0) throw std::system_error(error, std::generic_category(), "ntbridge::SendMemory");
}

ReceivedMemory ReceiveMemory(int socket) {
  ReceivedMemory out;
  HANDLE handle = nullptr;
  const int error = ntbridge_receive_memory(socket, &out.info, &handle);
  if (error != 0) throw std::system_error(error, std::generic_category(), "ntbridge::ReceiveMemory");
  out.handle = NtHandle(handle);
  return out;
}

void SetName(MemoryInfo& info, const std::wstring& name) {
  if (name.size() > NTBRIDGE_MAX_NAME) throw std::length_error("ntbridge::SetName: name longer than 260");
  std::wmemset(info.name, L'\0', NTBRIDGE_MAX_NAME + 1);
  std::wmemcpy(info.name, name.data(), name.size());
}

}  // namespace ntbridge
