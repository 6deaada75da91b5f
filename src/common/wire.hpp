// Sending and receiving one protocol message (one SOCK_SEQPACKET packet) with at most one descriptor.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ntbridge {

// Sends `bytes` and, when attach_fd >= 0, a copy of that descriptor (SCM_RIGHTS). False on failure (errno).
// `flags` are added to sendmsg's (MSG_DONTWAIT: fail with EAGAIN rather than wait for room).
bool SendPacket(int socket, std::span<const uint8_t> bytes, int attach_fd = -1, int flags = 0);

// kEmpty: nothing was queued (only without `wait`).
enum class ReceiveResult { kOk, kClosed, kError, kMalformed, kEmpty };

// Receives one packet into `bytes`. Descriptors that came with it are returned in `fds` (close-on-exec); the
// caller owns them. kMalformed: the packet or its descriptors did not fit (they are closed), `error` says
// how. Without `wait`, returns kEmpty at once when no packet is queued.
ReceiveResult ReceivePacket(int socket, std::vector<uint8_t>* bytes, std::vector<int>* fds,
                            std::string* error, bool wait = true);

// A short packet of a batch (ReceiveSmallPackets).
struct SmallPacket {
  static constexpr size_t kCapacity = 64;
  size_t size = 0;         // 0 with no descriptors: the peer closed (or sent an empty packet)
  bool too_long = false;   // longer than kCapacity (the rest is lost)
  size_t descriptors = 0;  // that came with it; already closed (none is wanted where small packets come)
  uint8_t bytes[kCapacity];
};
// The most packets one ReceiveSmallPackets call reads.
inline constexpr size_t kMaxSmallPackets = 16;
// Receives up to min(out.size(), kMaxSmallPackets) queued packets of a seqpacket socket in one system call
// (recvmmsg), without waiting. Returns how many, or -1 with errno (EAGAIN: none was queued). Fewer than that
// bound means the queue was empty when the call ended, so everything queued before it began was taken.
int ReceiveSmallPackets(int socket, std::span<SmallPacket> out);

// Receives one message of exactly `size` bytes into `data`, with at most one descriptor (*fd, close-on-exec;
// -1 when none came), on a stream or seqpacket socket (MSG_WAITALL: a stream waits for all of it). For the
// fixed-size messages of libntbridge's transfers, tests and benchmarks. kClosed: the peer closed the
// connection before the message began. kMalformed: the message was shorter or longer than `size`, or came
// with more than one descriptor; whatever descriptors came are closed. kError: recvmsg failed (errno).
ReceiveResult ReceiveFixed(int socket, void* data, size_t size, int* fd);
// ReceiveFixed, true only for kOk.
bool ReceiveWithFd(int socket, void* data, size_t size, int* fd);

// Closes every descriptor of `fds` and clears it.
void CloseAll(std::vector<int>* fds);

}  // namespace ntbridge
