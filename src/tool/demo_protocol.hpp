// The demo's messages after the shared memory itself (ntbridge_send_memory) went over the socket: one
// fixed-size record per SOCK_SEQPACKET packet.
#pragma once

#include <ntbridge/transfer.h>
#include <ntbridge/handle.hpp>
#include <ntbridge/transfer.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "errors.hpp"

namespace ntbridge::tool {

// The usage of the buffers over the shared memory, in both processes (so that both have the same memory
// requirements): written with transfer commands, read by a consumer's shader.
inline constexpr VkBufferUsageFlags kSharedBufferUsage =
    VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;

enum class DemoKind : uint32_t { kReady = 1, kFrame, kAck, kDone, kError };

struct DemoMessage {
  DemoKind kind{};
  uint32_t frame = 0;
  uint64_t checksum = 0;
  uint64_t bytes = 0;   // kFrame: how many bytes of the shared memory the checksum covers
  char text[240] = {};  // kReady: the consumer's device name; kError: what failed
};

// The first message after the memory: how the frames are synchronised. With DemoSync::kGpu it names the two
// exported timeline semaphores, `ready` (the producer signals frame + 1 once a frame is written) and `free`
// (the consumer signals frame + 1 once it has checked it), by NT handle (the descriptors ride along with the
// message, SCM_RIGHTS), KMT value or name.
struct DemoSetup {
  uint32_t sync = 0;  // DemoSync
  uint32_t frames = 0;
  uint32_t ring = 1;                            // slots of the shared memory, one frame each
  uint64_t slot_size = 0;                       // bytes per slot
  uint32_t handle_type = 0;                     // kGpu: the semaphores' VkExternalSemaphoreHandleTypeFlagBits
  uint32_t kmt[2] = {};                         // OPAQUE_WIN32_KMT: ready, free
  wchar_t name[2][NTBRIDGE_MAX_NAME + 1] = {};  // by name: ready, free; else empty
};
enum DemoSemaphore { kReady = 0, kFree = 1 };

// Sends `setup`, with duplicates of `ready` and `freed` when both are valid NT handles.
void SendSetup(int socket, const DemoSetup& setup, const NtHandle& ready = NtHandle(),
               const NtHandle& freed = NtHandle());
struct ReceivedSetup {
  DemoSetup setup;
  NtHandle handles[2];  // NT handles of ready and free when the setup carried them
};
// Throws ToolError when the peer closed the connection or sent a malformed setup.
ReceivedSetup ReceiveSetup(int socket);

// --mode fd: the memory itself, without libntbridge (whose messages carry Win32 handle types only): `info`
// with handle_type OPAQUE_FD, and the descriptor vkGetMemoryFdKHR gave (the kernel gives the receiver a
// duplicate, SCM_RIGHTS).
void SendMemoryFd(int socket, const MemoryInfo& info, int fd);
// Throws ToolError when the peer closed the connection or sent a malformed message.
ReceivedMemory ReceiveMemoryFd(int socket);

void SendDemo(int socket, DemoKind kind, uint32_t frame = 0, uint64_t checksum = 0, uint64_t bytes = 0,
              const std::string& text = {});
// Throws ToolError when the peer closed the connection or sent a malformed record.
DemoMessage ReceiveDemo(int socket, const char* peer);
// The same without waiting: nothing when no message has arrived yet.
std::optional<DemoMessage> PollDemo(int socket, const char* peer);
// Throws ToolError when the peer has closed the connection; leaves any message where it is.
void PeekDemo(int socket, const char* peer);

}  // namespace ntbridge::tool
