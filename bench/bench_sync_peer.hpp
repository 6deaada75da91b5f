// ntbridge_bench_sync's two processes: A (the benchmark) and B (its peer, the same program exec'd with
// --peer), what they share and how they talk. bench_sync.cpp has both mains and the host ping-pongs,
// bench_sync_chain.cpp the GPU chains.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "bench_sync.hpp"

namespace ntbridge::bench::peer {

// The timeout of the ping-pongs' vkWaitSemaphores: UINT64_MAX, as applications wait (the layer checks for
// a dead peer only on waits without a deadline, so a finite one would measure a path they do not take);
// NTBRIDGE_BENCH_WAIT_TIMEOUT_NS sets another.
inline uint64_t WaitTimeout() {
  static const uint64_t timeout = [] {
    const char* env = std::getenv("NTBRIDGE_BENCH_WAIT_TIMEOUT_NS");
    return env != nullptr ? std::strtoull(env, nullptr, 0) : UINT64_MAX;
  }();
  return timeout;
}

// Which pair of semaphores a ping-pong runs over.
enum class Path : int32_t { kFutex, kWin32, kFd, kDriverLocal };
inline constexpr int kPaths = 4;
inline const char* PathName(Path p) {
  return p == Path::kFutex ? "futex" : p == Path::kWin32 ? "win32" : p == Path::kFd ? "fd" : "driver_local";
}

// The page A and B share (a memfd): per path, the raw futex words (futex path only), the end flag and B's
// timestamps. Paths have lanes of their own, so that several run interleaved.
struct Control {
  struct Lane {
    std::atomic<uint32_t> a2b{0};  // futex words of the reference
    std::atomic<uint32_t> b2a{0};
    std::atomic<uint32_t> stop{0};
    std::atomic<int64_t> b_woke_ns{0};  // when B's wait on a2b returned
    std::atomic<int64_t> b_sent_ns{0};  // just before B signalled b2a
  };
  Lane lanes[kPaths];
  Lane relay;  // the futex words of the relay of bench_sync_chain.cpp
};
static_assert(std::atomic<uint32_t>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free);
static_assert(sizeof(Control) <= 4096);

// A futex in a MAP_SHARED page: not FUTEX_PRIVATE_FLAG, so the wake reaches the other process.
inline void FutexWait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT, expected, nullptr, nullptr, 0);
}
inline void FutexWake(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}
inline void FutexAwait(std::atomic<uint32_t>& word, uint32_t value) {
  for (uint32_t cur; (cur = word.load()) != value;) FutexWait(word, cur);
}
// Until the word reaches `value` (or passes it: the words count up, modulo 2^32).
inline void FutexAwaitAtLeast(std::atomic<uint32_t>& word, uint32_t value) {
  for (uint32_t cur; static_cast<int32_t>((cur = word.load()) - value) < 0;) FutexWait(word, cur);
}
inline void FutexSet(std::atomic<uint32_t>& word, uint32_t value) {
  word.store(value);
  FutexWake(word);
}

// Messages between A and B (one SOCK_SEQPACKET packet each, maybe with a descriptor).
enum Op : int32_t { kControlPage = 1, kImport, kRun, kReply, kQuit, kChain, kRelay };
struct Message {
  int32_t op = 0;
  int32_t path = 0;   // kImport, kRun, kReply, kChain: a Path
  int32_t index = 0;  // kImport: 0 = a2b, 1 = b2a; kChain, kRelay: the number of submissions
  int32_t result = 0;
  uint64_t value = 0;  // kRun: the first value; kChain, kRelay: the chain's base value
};

inline void Send(int s, const Message& m, int fd = -1) {
  if (!SendFd(s, fd, &m, sizeof m)) Die("cannot talk to the peer process");
}
inline Message Receive(int s, int* fd = nullptr) {
  Message m;
  int received = -1;
  if (!ReceiveFd(s, &received, &m, sizeof m)) Die("the peer process is gone");
  if (fd != nullptr) {
    *fd = received;
  } else if (received >= 0) {
    close(received);
  }
  return m;
}

// A's state: the sides, the peer, the semaphores of each path, the next value of each (both semaphores of a
// path are below it).
struct Pinger {
  std::unique_ptr<SyncSide> sides[2];  // win32, fd
  int peer = -1;
  pid_t peer_pid = -1;
  Control* control = nullptr;
  VkSemaphore a2b[kPaths] = {}, b2a[kPaths] = {};  // by Path (none for kFutex)
  std::string why_not[kPaths];                     // empty: the path runs
  uint64_t next[kPaths] = {1, 1, 1, 1};
  SyncSide* Of(Path p) { return p == Path::kFutex ? nullptr : sides[p == Path::kWin32 ? 0 : 1].get(); }
};
extern Pinger* g_pinger;

// B's loop of a host ping-pong on `path` (bench_sync.cpp): started with kRun, it answers kReply once A sets
// the lane's `stop` and signals a2b once more. StopPeerLoop does that.
void StopPeerLoop(Pinger& p, Path path);

// B's half of a GPU chain (bench_sync_chain.cpp): `count` submissions on `side`, each waiting on a2b and
// signalling b2a (the values in bench_sync_chain.cpp). VK_SUCCESS or the first failure.
VkResult PeerSubmitChain(SyncSide& side, VkSemaphore a2b, VkSemaphore b2a, uint64_t base, int count);

// One process's half of a relay chain (bench_sync_chain.cpp): `count` submissions on plain timeline
// semaphores of `side` and the two host threads that carry them over the futex words of `lane` (B's half
// when `peer_half`). The threads of the previous half end first. VK_SUCCESS or the first failure.
VkResult StartRelayHalf(SyncSide& side, Control::Lane& lane, bool peer_half, uint64_t base, int count);
// Joins this process's relay threads and destroys its relay semaphores (before `side` goes).
void EndRelay(SyncSide& side);

// Registers the GPU chains (bench_sync_chain.cpp), once the paths are set up.
void RegisterChainBenchmarks();

}  // namespace ntbridge::bench::peer
