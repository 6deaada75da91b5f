// Sending and receiving shared memory, semaphores and fences between processes (include/ntbridge/transfer.h).
// Wire format: a fixed header {magic, version, body size} and the body, in one sendmsg, with the NT handle's
// descriptor as SCM_RIGHTS (SendPacket and ReceiveFixed of src/common). The magic says what the body is:
// "NTBM" memory (ntbridge_memory_info), "NTBS" a semaphore or fence (ntbridge_sync_info, whose kind tells
// which). The receiver reads exactly one message's length (so stream and seqpacket sockets both work) and
// checks everything before trusting it.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cwchar>
#include <ntbridge/transfer.hpp>
#include <stdexcept>
#include <string>
#include <system_error>

#include "wire.hpp"

namespace {

constexpr uint32_t kMemoryMagic = 0x4d42544e;  // "NTBM"
constexpr uint32_t kSyncMagic = 0x5342544e;    // "NTBS"
constexpr uint16_t kVersion = 1;
// The OPAQUE_WIN32 and OPAQUE_WIN32_KMT bits, the same in VkExternalMemoryHandleTypeFlagBits,
// VkExternalSemaphoreHandleTypeFlagBits and VkExternalFenceHandleTypeFlagBits (this header does not need
// the Vulkan headers).
constexpr uint32_t kOpaqueWin32 = 0x2;
constexpr uint32_t kOpaqueWin32Kmt = 0x4;

// Every message has the same length whatever it carries: a receiver reads exactly one message, even from a
// stream socket, before it knows the kind, and so can refuse one of another kind without losing its place
// in the stream. Memory messages are those of the first version, byte for byte.
constexpr size_t kBodyRoom = std::max(sizeof(ntbridge_memory_info), sizeof(ntbridge_sync_info));

struct Wire {
  uint32_t magic;
  uint16_t version;
  uint16_t reserved;
  uint32_t body_size;
  uint32_t reserved2;
  alignas(ntbridge_memory_info) unsigned char body[kBodyRoom];
};
static_assert(sizeof(Wire) == 16 + sizeof(ntbridge_memory_info), "memory messages keep their first layout");

enum class Carries { kMemory, kSemaphore, kFence };

const char* Name(Carries c) {
  switch (c) {
    case Carries::kMemory:
      return "memory";
    case Carries::kSemaphore:
      return "a semaphore";
    case Carries::kFence:
      return "a fence";
  }
  return "?";
}

// The rules both ends apply: an NT message carries exactly one of a descriptor and a name, a KMT message a
// nonzero value and nothing else.
const char* HandleProblem(uint32_t handle_type, uint32_t global_share, const wchar_t* name, bool has_fd) {
  if (std::wmemchr(name, L'\0', NTBRIDGE_MAX_NAME + 1) == nullptr) return "the name has no terminating NUL";
  const bool has_name = name[0] != L'\0';
  switch (handle_type) {
    case kOpaqueWin32:
      if (global_share != 0) return "an OPAQUE_WIN32 message has a KMT value";
      if (has_fd && has_name) return "an OPAQUE_WIN32 message has both a handle and a name";
      if (!has_fd && !has_name) return "an OPAQUE_WIN32 message has neither a handle nor a name";
      return nullptr;
    case kOpaqueWin32Kmt:
      if (global_share == 0) return "an OPAQUE_WIN32_KMT message has no KMT value";
      if (has_fd || has_name) return "an OPAQUE_WIN32_KMT message has a handle or a name";
      return nullptr;
    default:
      return "the handle type is neither OPAQUE_WIN32 nor OPAQUE_WIN32_KMT";
  }
}

const char* Problem(const ntbridge_memory_info& info, bool has_fd) {
  if (info.allocation_size == 0) return "allocation_size is 0";
  return HandleProblem(info.handle_type, info.global_share, info.name, has_fd);
}

const char* Problem(const ntbridge_sync_info& info, bool has_fd) {
  if (info.kind != NTBRIDGE_SYNC_BINARY_SEMAPHORE && info.kind != NTBRIDGE_SYNC_TIMELINE_SEMAPHORE &&
      info.kind != NTBRIDGE_SYNC_FENCE) {
    return "kind is none of NTBRIDGE_SYNC_BINARY_SEMAPHORE, _TIMELINE_SEMAPHORE and NTBRIDGE_SYNC_FENCE";
  }
  return HandleProblem(info.handle_type, info.global_share, info.name, has_fd);
}

Carries KindOf(const ntbridge_memory_info&) { return Carries::kMemory; }
Carries KindOf(const ntbridge_sync_info& info) {
  return info.kind == NTBRIDGE_SYNC_FENCE ? Carries::kFence : Carries::kSemaphore;
}

template <typename Info>
int Send(int socket, uint32_t magic, const Info* info, HANDLE handle, Carries want, std::string* why) {
  const int fd = handle == nullptr ? -1 : ntbridge_HandleToFd(handle);
  if (info == nullptr) {
    *why = "no info";
    return EINVAL;
  }
  if (handle != nullptr && fd < 0) {
    *why = "the handle is not a descriptor";
    return EINVAL;
  }
  if (const char* problem = Problem(*info, fd >= 0)) {
    *why = problem;
    return EINVAL;
  }
  if (KindOf(*info) != want) {
    *why = std::string("info.kind is ") + Name(KindOf(*info)) + ", not " + Name(want);
    return EINVAL;
  }
  Wire wire{};
  wire.magic = magic;
  wire.version = kVersion;
  wire.body_size = sizeof(Info);
  std::memcpy(wire.body, info, sizeof(Info));
  errno = 0;
  if (ntbridge::SendPacket(socket, {reinterpret_cast<const uint8_t*>(&wire), sizeof wire}, fd)) return 0;
  return errno != 0 ? errno : EMSGSIZE;  // a short send sets no errno
}

// Receives one message and checks that it is well-formed, whatever it carries (*carries says what). Returns
// 0 with *fd the descriptor that came with it (never 0, so never a NULL handle) or -1; or ENODATA, EBADMSG
// (`why` says how) or an errno value, with *fd -1.
int ReceiveAny(int socket, Wire* wire, Carries* carries, int* fd, std::string* why) {
  errno = 0;
  switch (ntbridge::ReceiveFixed(socket, wire, sizeof *wire, fd)) {
    case ntbridge::ReceiveResult::kOk:
      break;
    case ntbridge::ReceiveResult::kClosed:
      *why = "the peer closed the connection";
      return ENODATA;
    case ntbridge::ReceiveResult::kMalformed:
      *why = "the message is not " + std::to_string(sizeof *wire) +
             " bytes long or came with more than one descriptor";
      return EBADMSG;
    default:
      return errno != 0 ? errno : EIO;
  }
  auto reject = [&](std::string text) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    *why = std::move(text);
    return EBADMSG;
  };
  if (wire->version != kVersion) return reject("version " + std::to_string(wire->version) + ", not 1");
  const char* problem = nullptr;
  if (wire->magic == kMemoryMagic && wire->body_size == sizeof(ntbridge_memory_info)) {
    ntbridge_memory_info info;
    std::memcpy(&info, wire->body, sizeof info);
    problem = Problem(info, *fd >= 0);
    *carries = Carries::kMemory;
  } else if (wire->magic == kSyncMagic && wire->body_size == sizeof(ntbridge_sync_info)) {
    ntbridge_sync_info info;
    std::memcpy(&info, wire->body, sizeof info);
    problem = Problem(info, *fd >= 0);
    *carries = KindOf(info);
  } else {
    return reject("not a ntbridge transfer message (magic or body size unknown)");
  }
  if (problem != nullptr) return reject(problem);
  if (*fd == 0) {  // never hand out a NULL handle
    const int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 1);
    const int error = errno;
    close(*fd);
    *fd = moved;
    if (moved < 0) return error;
  }
  return 0;
}

// Receives one message that must carry `want`; a well-formed one of another kind is ENOMSG.
template <typename Info>
int ReceiveAs(int socket, Carries want, Info* info, HANDLE* handle, std::string* why) {
  if (info == nullptr || handle == nullptr) {
    *why = "no info or handle to fill";
    return EINVAL;
  }
  *handle = nullptr;
  Wire wire{};
  Carries got = Carries::kMemory;
  int fd = -1;
  if (int error = ReceiveAny(socket, &wire, &got, &fd, why); error != 0) return error;
  if (got != want) {
    if (fd >= 0) close(fd);
    *why = std::string("the message carries ") + Name(got) + ", not " + Name(want);
    return ENOMSG;
  }
  std::memcpy(info, wire.body, sizeof(Info));
  if (fd >= 0) *handle = ntbridge_FdToHandle(fd);
  return 0;
}

[[noreturn]] void Throw(int error, const char* function, const std::string& why) {
  throw std::system_error(error, std::generic_category(),
                          why.empty() ? std::string(function) : std::string(function) + ": " + why);
}

template <typename Info>
void SetNameOf(Info& info, const std::wstring& name) {
  if (name.size() > NTBRIDGE_MAX_NAME) throw std::length_error("ntbridge::SetName: name longer than 260");
  std::wmemset(info.name, L'\0', NTBRIDGE_MAX_NAME + 1);
  std::wmemcpy(info.name, name.data(), name.size());
}

}  // namespace

extern "C" {

int ntbridge_send_memory(int socket, const ntbridge_memory_info* info, HANDLE handle) {
  std::string why;
  return Send(socket, kMemoryMagic, info, handle, Carries::kMemory, &why);
}

int ntbridge_receive_memory(int socket, ntbridge_memory_info* info, HANDLE* handle) {
  std::string why;
  return ReceiveAs(socket, Carries::kMemory, info, handle, &why);
}

int ntbridge_send_semaphore(int socket, const ntbridge_sync_info* info, HANDLE handle) {
  std::string why;
  return Send(socket, kSyncMagic, info, handle, Carries::kSemaphore, &why);
}

int ntbridge_send_fence(int socket, const ntbridge_sync_info* info, HANDLE handle) {
  std::string why;
  return Send(socket, kSyncMagic, info, handle, Carries::kFence, &why);
}

int ntbridge_receive_semaphore(int socket, ntbridge_sync_info* info, HANDLE* handle) {
  std::string why;
  return ReceiveAs(socket, Carries::kSemaphore, info, handle, &why);
}

int ntbridge_receive_fence(int socket, ntbridge_sync_info* info, HANDLE* handle) {
  std::string why;
  return ReceiveAs(socket, Carries::kFence, info, handle, &why);
}

}  // extern "C"

namespace ntbridge {

void SendMemory(int socket, const MemoryInfo& info, const NtHandle& handle) {
  std::string why;
  const int error = Send(socket, kMemoryMagic, &info, handle.get(), Carries::kMemory, &why);
  if (error != 0) Throw(error, "ntbridge::SendMemory", why);
}

ReceivedMemory ReceiveMemory(int socket) {
  ReceivedMemory out;
  HANDLE handle = nullptr;
  std::string why;
  const int error = ReceiveAs(socket, Carries::kMemory, &out.info, &handle, &why);
  if (error != 0) Throw(error, "ntbridge::ReceiveMemory", why);
  out.handle = NtHandle(handle);
  return out;
}

void SetName(MemoryInfo& info, const std::wstring& name) { SetNameOf(info, name); }

void SendSemaphore(int socket, const SyncInfo& info, const NtHandle& handle) {
  std::string why;
  const int error = Send(socket, kSyncMagic, &info, handle.get(), Carries::kSemaphore, &why);
  if (error != 0) Throw(error, "ntbridge::SendSemaphore", why);
}

void SendFence(int socket, const SyncInfo& info, const NtHandle& handle) {
  std::string why;
  const int error = Send(socket, kSyncMagic, &info, handle.get(), Carries::kFence, &why);
  if (error != 0) Throw(error, "ntbridge::SendFence", why);
}

ReceivedSync ReceiveSemaphore(int socket) {
  ReceivedSync out;
  HANDLE handle = nullptr;
  std::string why;
  const int error = ReceiveAs(socket, Carries::kSemaphore, &out.info, &handle, &why);
  if (error != 0) Throw(error, "ntbridge::ReceiveSemaphore", why);
  out.handle = NtHandle(handle);
  return out;
}

ReceivedSync ReceiveFence(int socket) {
  ReceivedSync out;
  HANDLE handle = nullptr;
  std::string why;
  const int error = ReceiveAs(socket, Carries::kFence, &out.info, &handle, &why);
  if (error != 0) Throw(error, "ntbridge::ReceiveFence", why);
  out.handle = NtHandle(handle);
  return out;
}

void SetName(SyncInfo& info, const std::wstring& name) { SetNameOf(info, name); }

}  // namespace ntbridge
