// The other process of the libntbridge semaphore and fence tests (test_sync_share.cpp), started with exec and
// given one end of a socket pair.
//
//   ntbridge_sync_transfer_child semaphore <socket> <value>  ReceiveSemaphore, import, then signal it: a
//                                                            timeline from the host to <value>; a binary one
//                                                            is waited on by a submission instead (its
//                                                            signal comes from the sender's queue)
//   ntbridge_sync_transfer_child fence <socket>              ReceiveFence, import, signal by a submission
//   ntbridge_sync_transfer_child export <socket> <value>     export a timeline semaphore, SendSemaphore, then
//                                                            wait until the receiver signals <value>
//
// A KMT value or name is turned into an NT handle with ntbridge::OpenShareAsNtHandle before the import.
// Exit status: 0 done, 1 timed out, 2 import failed, 3 metadata not what the sender's device says, 4 no
// device, 5 other failure, 6 receive or send failed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <ntbridge/transfer.hpp>
#include <ntbridge/vulkan.hpp>
#include <string>

#include "sync_support.hpp"

namespace {

using ntbridge::test::SyncDevice;

constexpr uint64_t kTimeoutNs = 20ull * 1000 * 1000 * 1000;

// The metadata must describe an object of this kind made on this very device (same machine, same driver).
bool MetadataMatches(SyncDevice& s, const ntbridge::SyncInfo& info, uint32_t kind) {
  ntbridge::SyncInfo mine{};
  ntbridge::FillDeviceIds(vkGetInstanceProcAddr, s.vk->instance, s.vk->gpu, mine);
  if (info.kind != kind) std::fprintf(stderr, "sync child: kind %u, expected %u\n", info.kind, kind);
  return info.kind == kind && std::memcmp(info.device_uuid, mine.device_uuid, NTBRIDGE_UUID_SIZE) == 0 &&
         std::memcmp(info.driver_uuid, mine.driver_uuid, NTBRIDGE_UUID_SIZE) == 0;
}

// An NT handle of what `received` describes: the one that came with it, or one of its KMT value or name.
ntbridge::NtHandle NtHandleOf(ntbridge::ReceivedSync& received) {
  if (received.handle.valid()) return std::move(received.handle);
  return ntbridge::OpenShareAsNtHandle(received.info);
}

int Semaphore(SyncDevice& s, int socket, uint64_t value) {
  ntbridge::ReceivedSync received = ntbridge::ReceiveSemaphore(socket);
  const bool timeline = received.info.kind == NTBRIDGE_SYNC_TIMELINE_SEMAPHORE;
  if (!MetadataMatches(s, received.info,
                       timeline ? NTBRIDGE_SYNC_TIMELINE_SEMAPHORE : NTBRIDGE_SYNC_BINARY_SEMAPHORE)) {
    return 3;
  }
  ntbridge::NtHandle handle = NtHandleOf(received);
  VkSemaphore sem = s.Semaphore(timeline ? VK_SEMAPHORE_TYPE_TIMELINE : VK_SEMAPHORE_TYPE_BINARY, 0);
  if (s.ImportSemaphore(sem, ntbridge::test::kSemNt, handle.get()) != VK_SUCCESS) return 2;
  handle.Reset();  // the import has a reference of its own
  int status = 5;
  if (timeline) {
    status = s.HostSignal(sem, value) == VK_SUCCESS ? 0 : 5;
  } else {
    VkFence done = s.Fence(false);
    if (s.Submit({{sem, 0}}, {}, done) == VK_SUCCESS) {
      const VkResult r = s.WaitFence(done, kTimeoutNs);
      status = r == VK_SUCCESS ? 0 : r == VK_TIMEOUT ? 1 : 5;
    }
    vkQueueWaitIdle(s.dev->queue);
    vkDestroyFence(s.dev->device, done, nullptr);
  }
  vkDestroySemaphore(s.dev->device, sem, nullptr);
  return status;
}

int Fence(SyncDevice& s, int socket) {
  ntbridge::ReceivedSync received = ntbridge::ReceiveFence(socket);
  if (!MetadataMatches(s, received.info, NTBRIDGE_SYNC_FENCE)) return 3;
  ntbridge::NtHandle handle = NtHandleOf(received);
  VkFence fence = s.Fence(false);
  if (s.ImportFence(fence, ntbridge::test::kFenceNt, handle.get()) != VK_SUCCESS) return 2;
  handle.Reset();
  const int status = s.Submit({}, {}, fence) == VK_SUCCESS ? 0 : 5;
  vkQueueWaitIdle(s.dev->queue);
  vkDestroyFence(s.dev->device, fence, nullptr);
  return status;
}

int Export(SyncDevice& s, int socket, uint64_t value) {
  VkSemaphore sem = s.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, ntbridge::test::kSemNt);
  ntbridge::NtHandle handle(s.SemaphoreHandle(sem, ntbridge::test::kSemNt));
  if (!handle.valid()) return 5;
  ntbridge::SyncInfo info{};
  info.kind = NTBRIDGE_SYNC_TIMELINE_SEMAPHORE;
  info.handle_type = ntbridge::test::kSemNt;
  ntbridge::FillDeviceIds(vkGetInstanceProcAddr, s.vk->instance, s.vk->gpu, info);
  ntbridge::SendSemaphore(socket, info, handle);
  handle.Reset();
  const VkResult r = s.HostWait(sem, value, kTimeoutNs);
  vkDestroySemaphore(s.dev->device, sem, nullptr);
  return r == VK_SUCCESS ? 0 : r == VK_TIMEOUT ? 1 : 5;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 2 ? argv[1] : "";
  if (mode.empty()) {
    std::fprintf(stderr, "usage: %s semaphore|fence|export <socket> [value]\n", argv[0]);
    return 64;
  }
  const int socket = std::atoi(argv[2]);
  const uint64_t value = argc > 3 ? std::strtoull(argv[3], nullptr, 0) : 0;
  SyncDevice s;
  if (!s.ok()) {
    std::fprintf(stderr, "sync child: %s\n", s.error.c_str());
    return 4;
  }
  try {
    if (mode == "semaphore") return Semaphore(s, socket, value);
    if (mode == "fence") return Fence(s, socket);
    if (mode == "export") return Export(s, socket, value);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "sync child: %s\n", e.what());
    return 6;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sync child: %s\n", e.what());
    return 2;
  }
  return 64;
}
