// ntbridge: C++ face of ntbridge/transfer.h. Errors throw std::system_error naming what failed.
#pragma once

#include <ntbridge/transfer.h>
#include <ntbridge/handle.hpp>

#include <string>

namespace ntbridge {

using MemoryInfo = ntbridge_memory_info;

struct ReceivedMemory {
  MemoryInfo info{};
  NtHandle handle;  // empty unless the sender passed an NT handle
};

// Sends `info` with a duplicate of `handle` (may be empty).
NTBRIDGE_API void SendMemory(int socket, const MemoryInfo& info, const NtHandle& handle = {});
// Receives one message; throws std::system_error (ENODATA when the peer closed, EBADMSG when malformed).
NTBRIDGE_API ReceivedMemory ReceiveMemory(int socket);

// Sets `info.name` from `name` (throws std::length_error past NTBRIDGE_MAX_NAME characters).
NTBRIDGE_API void SetName(MemoryInfo& info, const std::wstring& name);

// Semaphores and fences.
using SyncInfo = ntbridge_sync_info;

struct ReceivedSync {
  SyncInfo info{};
  NtHandle handle;  // empty unless the sender passed an NT handle
};

// Send `info` (a semaphore's or a fence's, as the name says) with a duplicate of `handle` (may be empty).
NTBRIDGE_API void SendSemaphore(int socket, const SyncInfo& info, const NtHandle& handle = {});
NTBRIDGE_API void SendFence(int socket, const SyncInfo& info, const NtHandle& handle = {});
// Receive one message of that kind; throw std::system_error (ENODATA when the peer closed, EBADMSG when
// malformed, ENOMSG when the message is of another kind, with what it was).
NTBRIDGE_API ReceivedSync ReceiveSemaphore(int socket);
NTBRIDGE_API ReceivedSync ReceiveFence(int socket);

NTBRIDGE_API void SetName(SyncInfo& info, const std::wstring& name);

}  // namespace ntbridge
