// Issue 12 ("Numbers") and the semaphore and fence benchmarks of issue 13: Win32 semaphores and fences
// through the layer next to a raw futex and the driver's own paths, in one run.
//
// Between two processes (this program and its peer, the same program exec'd with --peer), ping-pong over two
// timeline semaphores: A signals a2b with value v, B's wait on a2b returns, B signals b2a with v, A's wait on
// b2a returns. Each round trip gives the one-way latency of the A -> B leg from CLOCK_MONOTONIC timestamps
// taken in both processes (B writes the time its wait returned into a shared page); one benchmark iteration
// is a batch of round trips, and its time is the median A -> B latency of the batch.
//  - wakeup/futex        the reference: a futex word in a shared memfd page, FUTEX_WAKE / FUTEX_WAIT
//  - wakeup/win32        vkSignalSemaphore in A -> vkWaitSemaphores returns in B (NT handles through the
//                        layer: a shared payload on a driver without external sync, else the driver's)
//  - wakeup/fd           the same on the driver's own OPAQUE_FD timeline semaphores, no layer (where the
//                        driver has VK_KHR_external_semaphore_fd)
//  - wakeup/driver_local the same on plain driver semaphores between two threads of A, no layer: the
//                        driver's own host wake-up, for scale
//  - queue_handoff/...   the A -> B leg is a vkQueueSubmit (no command buffers) signalling a2b instead of a
//                        host signal; time from the call to the return of B's wait
//  - queue_wait/{win32,fd,driver}  in A alone: a submission waits on a timeline semaphore and then fills a
//                        64 KiB buffer; once everything is asleep, vkSignalSemaphore; time from that call to
//                        the return of vkWaitForFences on the submission's fence
// The operations of one process (scale, export / import / free) are in bench_sync_ops.cpp.
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <thread>

#include "bench_sync.hpp"

namespace ntbridge::bench {

bool SkipUnless(benchmark::State& state, bool can, const std::string& why) {
  if (can) return false;
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
  return true;
}

namespace {

constexpr uint64_t kTimeoutNs = 10'000'000'000;  // a wait this long means the peer is gone
constexpr int kWarmup = 20;                      // round trips left out of each batch

int RoundTrips() {
  const char* env = std::getenv("NTBRIDGE_BENCH_ROUND_TRIPS");
  return env != nullptr ? std::max(10, std::atoi(env)) : 2000;
}

// The page A and B share (a memfd): the raw futex words and B's timestamps.
struct Control {
  std::atomic<uint32_t> a2b{0};  // futex words of the reference
  std::atomic<uint32_t> b2a{0};
  std::atomic<uint32_t> stop{0};
  std::atomic<int64_t> b_woke_ns{0};  // when B's wait on a2b returned
  std::atomic<int64_t> b_sent_ns{0};  // just before B signalled b2a
};
static_assert(std::atomic<uint32_t>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free);

// A futex in a MAP_SHARED page: not FUTEX_PRIVATE_FLAG, so the wake reaches the other process.
void FutexWait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT, expected, nullptr, nullptr, 0);
}
void FutexWake(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}
void FutexAwait(std::atomic<uint32_t>& word, uint32_t value) {
  for (uint32_t cur; (cur = word.load()) != value;) FutexWait(word, cur);
}
void FutexSet(std::atomic<uint32_t>& word, uint32_t value) {
  word.store(value);
  FutexWake(word);
}

// Which pair of semaphores a ping-pong runs over.
enum class Path : int32_t { kFutex, kWin32, kFd, kDriverLocal };
const char* PathName(Path p) {
  return p == Path::kFutex ? "futex" : p == Path::kWin32 ? "win32" : p == Path::kFd ? "fd" : "driver_local";
}

// Messages between A and B (one SOCK_SEQPACKET packet each, maybe with a descriptor).
enum Op : int32_t { kControlPage = 1, kImport, kRun, kReply, kQuit };
struct Message {
  int32_t op = 0;
  int32_t path = 0;   // kImport, kRun: a Path
  int32_t index = 0;  // kImport: 0 = a2b, 1 = b2a
  int32_t result = 0;
  uint64_t value = 0;  // kRun: the first value
};

void Send(int s, const Message& m, int fd = -1) {
  if (!SendFd(s, fd, &m, sizeof m)) Die("cannot talk to the peer process");
}
Message Receive(int s, int* fd = nullptr) {
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

// B's half of a ping-pong: wait for a2b to reach v, note the time, signal b2a with v; until A sets `stop`.
template <typename WaitFn, typename SignalFn>
void PeerLoop(Control& c, uint64_t start, WaitFn&& wait, SignalFn&& signal) {
  for (uint64_t v = start;; ++v) {
    if (!wait(v)) Die("peer: a wait failed or timed out");
    c.b_woke_ns.store(NowNs());
    if (c.stop.load() != 0) return;
    c.b_sent_ns.store(NowNs());
    if (!signal(v)) Die("peer: a signal failed");
  }
}

void RunPeerLoop(Control& c, Path path, uint64_t start, SyncSide* side, VkSemaphore a2b, VkSemaphore b2a) {
  if (path == Path::kFutex) {
    PeerLoop(
        c, start, [&](uint64_t v) { return FutexAwait(c.a2b, static_cast<uint32_t>(v)), true; },
        [&](uint64_t v) { return FutexSet(c.b2a, static_cast<uint32_t>(v)), true; });
    return;
  }
  PeerLoop(
      c, start, [&](uint64_t v) { return side->Wait(a2b, v, kTimeoutNs) == VK_SUCCESS; },
      [&](uint64_t v) { return side->Signal(b2a, v) == VK_SUCCESS; });
}

// --peer <socket>: process B. Makes its Vulkan sides on first need, imports what A sends, runs loops.
int PeerMain(int s) {
  std::unique_ptr<SyncSide> sides[2];
  VkSemaphore imported[2][2] = {};
  Control* c = nullptr;
  for (;;) {
    int fd = -1;
    Message m = Receive(s, &fd);
    Message reply{kReply};
    if (m.op == kQuit) break;
    if (m.op == kControlPage) {
      void* map = mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (map == MAP_FAILED) Die("peer: cannot map the control page");
      c = static_cast<Control*>(map);
    } else if (m.op == kImport) {
      const int i = m.path == static_cast<int32_t>(Path::kWin32) ? 0 : 1;
      if (!sides[i]) sides[i] = std::make_unique<SyncSide>(i == 0 ? Side::kWin32 : Side::kFd);
      VkResult r = VK_SUCCESS;
      VkSemaphore sem = sides[i]->Timeline(false, 0, &r);
      if (r == VK_SUCCESS) r = sides[i]->ImportSemaphoreKeep(sem, fd);
      imported[i][m.index] = sem;
      reply.result = r;
    } else if (m.op == kRun) {
      const Path path = static_cast<Path>(m.path);
      const int i = path == Path::kWin32 ? 0 : 1;
      RunPeerLoop(*c, path, m.value, sides[i].get(), imported[i][0], imported[i][1]);
    }
    if (fd >= 0) close(fd);
    Send(s, reply);
  }
  for (int i = 0; i < 2; ++i) {
    for (VkSemaphore sem : imported[i]) {
      if (sem != VK_NULL_HANDLE) sides[i]->DestroySemaphore(sides[i]->device, sem, nullptr);
    }
  }
  return 0;
}

// A's state: the sides, the peer, the semaphores of each path, the next value of each.
struct Pinger {
  std::unique_ptr<SyncSide> sides[2];  // win32, fd
  int peer = -1;
  pid_t peer_pid = -1;
  Control* control = nullptr;
  VkSemaphore a2b[4] = {}, b2a[4] = {};  // by Path (none for kFutex)
  std::string why_not[4];                // empty: the path runs
  uint64_t next[4] = {1, 1, 1, 1};
  SyncSide& Of(Path p) { return *sides[p == Path::kWin32 ? 0 : 1]; }
};
Pinger* g = nullptr;

void StartPeer(Pinger& p) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) != 0) Die("socketpair");
  fcntl(pair[0], F_SETFD, FD_CLOEXEC);
  pid_t pid = fork();
  if (pid == 0) {
    std::string exe = SelfExe(), arg = std::to_string(pair[1]);
    execl(exe.c_str(), exe.c_str(), "--peer", arg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pair[1]);
  p.peer = pair[0];
  p.peer_pid = pid;
  int memfd = memfd_create("ntbridge-bench-control", MFD_CLOEXEC);
  if (memfd < 0 || ftruncate(memfd, 4096) != 0) Die("memfd_create");
  void* map = mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (map == MAP_FAILED) Die("mmap");
  p.control = new (map) Control();
  Send(p.peer, {kControlPage}, memfd);
  Receive(p.peer);
  close(memfd);
}

// Makes the pair of semaphores of `path` and, for the cross-process ones, gives them to the peer.
void SetUpPath(Pinger& p, Path path) {
  const int i = static_cast<int>(path);
  if (path == Path::kFutex) return;
  SyncSide& side = p.Of(path);
  const bool exportable = path != Path::kDriverLocal;
  if (exportable && !side.exports_semaphores) {
    p.why_not[i] = side.why_not_semaphores;
    return;
  }
  VkResult r = VK_SUCCESS;
  p.a2b[i] = side.Timeline(exportable, 0, &r);
  if (r == VK_SUCCESS) p.b2a[i] = side.Timeline(exportable, 0, &r);
  if (r != VK_SUCCESS) Die(std::string("cannot create the semaphores of ") + PathName(path));
  if (!exportable) return;
  VkSemaphore both[2] = {p.a2b[i], p.b2a[i]};
  for (int k = 0; k < 2; ++k) {
    int fd = side.ExportSemaphore(both[k], &r);
    if (fd < 0) Die(std::string("cannot export the semaphores of ") + PathName(path));
    Message m{kImport, i, k};
    Send(p.peer, m, fd);
    close(fd);  // CloseHandle: the peer's import does not take it, and it sent its own copy
    Message reply = Receive(p.peer);
    if (reply.result != VK_SUCCESS) {
      p.why_not[i] = "the peer could not import the semaphore: VkResult " + std::to_string(reply.result);
    }
  }
}

void StopPeer(Pinger& p) {
  Send(p.peer, {kQuit});
  waitpid(p.peer_pid, nullptr, 0);
  close(p.peer);
}

// One ping-pong batch. `queue`: A's leg is a queue submission (Vulkan paths only).
void PingPong(benchmark::State& state, Path path, bool queue) {
  Pinger& p = *g;
  const int i = static_cast<int>(path);
  if (SkipUnless(state, p.why_not[i].empty(), p.why_not[i])) return;
  Control& c = *p.control;
  SyncSide* side = path == Path::kFutex ? nullptr : &p.Of(path);
  const VkSemaphore a2b = p.a2b[i], b2a = p.b2a[i];
  auto send = [&](uint64_t v) {
    if (path == Path::kFutex) return FutexSet(c.a2b, static_cast<uint32_t>(v)), true;
    if (queue) return side->Submit(VK_NULL_HANDLE, 0, VK_NULL_HANDLE, a2b, v, VK_NULL_HANDLE) == VK_SUCCESS;
    return side->Signal(a2b, v) == VK_SUCCESS;
  };
  auto receive = [&](uint64_t v) {
    if (path == Path::kFutex) return FutexAwait(c.b2a, static_cast<uint32_t>(v)), true;
    return side->Wait(b2a, v, kTimeoutNs) == VK_SUCCESS;
  };
  const int n = RoundTrips();
  std::vector<int64_t> forward, back, round;
  forward.reserve(n);
  back.reserve(n);
  round.reserve(n);
  for (auto _ : state) {
    forward.clear();
    back.clear();
    round.clear();
    const uint64_t start = p.next[i];
    std::thread local;
    if (path == Path::kDriverLocal) {
      local = std::thread([&] { RunPeerLoop(c, path, start, side, a2b, b2a); });
    } else {
      Send(p.peer, {kRun, i, 0, 0, start});
    }
    uint64_t v = start;
    for (int k = 0; k < n + kWarmup; ++k, ++v) {
      const int64_t t0 = NowNs();
      if (!send(v)) Die(std::string(PathName(path)) + ": A's signal failed");
      if (!receive(v)) Die(std::string(PathName(path)) + ": A's wait failed or timed out");
      const int64_t t3 = NowNs();
      if (k < kWarmup) continue;
      forward.push_back(c.b_woke_ns.load() - t0);
      back.push_back(t3 - c.b_sent_ns.load());
      round.push_back(t3 - t0);
    }
    // The end: B wakes for one more value and finds `stop`.
    c.stop.store(1);
    if (path == Path::kFutex) {
      FutexSet(c.a2b, static_cast<uint32_t>(v));
    } else {
      side->Signal(a2b, v);
    }
    if (path == Path::kDriverLocal) {
      local.join();
    } else {
      Receive(p.peer);
    }
    c.stop.store(0);
    p.next[i] = v + 1;
    state.SetIterationTime(Quantile(forward, 0.5) * 1e-9);
    state.counters["forward_us_p10"] = Quantile(forward, 0.1) * 1e-3;
    state.counters["forward_us_median"] = Quantile(forward, 0.5) * 1e-3;
    state.counters["forward_us_p90"] = Quantile(forward, 0.9) * 1e-3;
    state.counters["back_us_median"] = Quantile(back, 0.5) * 1e-3;  // B -> A, always a host signal
    state.counters["round_trip_us_median"] = Quantile(round, 0.5) * 1e-3;
    state.counters["round_trips"] = n;
  }
}

// GPU work behind a queue wait: from the host signal to the return of vkWaitForFences.
constexpr int kQueueWaits = 200;
struct QueueWaitSetup {
  SyncSide* side = nullptr;
  VkSemaphore semaphore = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  uint64_t next = 1;
  std::string why_not;
};
QueueWaitSetup g_queue_wait[3];  // win32 (exportable), fd (exportable), driver (plain, fd side)

void QueueWait(benchmark::State& state, int which) {
  QueueWaitSetup& q = g_queue_wait[which];
  if (SkipUnless(state, q.why_not.empty(), q.why_not)) return;
  SyncSide& side = *q.side;
  std::vector<int64_t> times;
  times.reserve(kQueueWaits);
  for (auto _ : state) {
    times.clear();
    for (int k = 0; k < kQueueWaits; ++k) {
      const uint64_t v = q.next++;
      if (side.Submit(q.semaphore, v, side.work, VK_NULL_HANDLE, 0, q.fence) != VK_SUCCESS) Die("submit");
      // Let every thread that takes part (the driver's, the layer's) go to sleep: the wait is real.
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      const int64_t t0 = NowNs();
      side.Signal(q.semaphore, v);
      if (side.WaitForFences(side.device, 1, &q.fence, VK_TRUE, kTimeoutNs) != VK_SUCCESS) Die("fence wait");
      times.push_back(NowNs() - t0);
      side.ResetFences(side.device, 1, &q.fence);
    }
    state.SetIterationTime(Quantile(times, 0.5) * 1e-9);
    state.counters["us_p10"] = Quantile(times, 0.1) * 1e-3;
    state.counters["us_median"] = Quantile(times, 0.5) * 1e-3;
    state.counters["us_p90"] = Quantile(times, 0.9) * 1e-3;
  }
}

void SetUpQueueWait(Pinger& p) {
  const char* names[3] = {"win32", "fd", "driver"};
  for (int w = 0; w < 3; ++w) {
    QueueWaitSetup& q = g_queue_wait[w];
    q.side = p.sides[w == 0 ? 0 : 1].get();
    const bool exportable = w != 2;
    if (exportable && !q.side->exports_semaphores) {
      q.why_not = q.side->why_not_semaphores;
    } else {
      VkResult r = VK_SUCCESS;
      q.semaphore = q.side->Timeline(exportable, 0, &r);
      if (r == VK_SUCCESS) q.fence = q.side->Fence(false, &r);
      if (r != VK_SUCCESS) Die(std::string("queue_wait/") + names[w] + ": setup failed");
    }
    // Registered even where it cannot run, so that the JSON says why.
    benchmark::RegisterBenchmark((std::string("queue_wait/") + names[w]).c_str(),
                                 [w](benchmark::State& s) { QueueWait(s, w); })
        ->UseManualTime()
        ->Iterations(1);
  }
}

void TearDownQueueWait() {
  for (QueueWaitSetup& q : g_queue_wait) {
    if (q.semaphore != VK_NULL_HANDLE) q.side->DestroySemaphore(q.side->device, q.semaphore, nullptr);
    if (q.fence != VK_NULL_HANDLE) q.side->DestroyFence(q.side->device, q.fence, nullptr);
  }
}

}  // namespace
}  // namespace ntbridge::bench

int main(int argc, char** argv) {
  using namespace ntbridge::bench;
  PrepareProcess();
  if (argc == 3 && std::strcmp(argv[1], "--peer") == 0) return PeerMain(std::atoi(argv[2]));
  benchmark::Initialize(&argc, argv);
  Pinger pinger;
  g = &pinger;
  StartPeer(pinger);
  pinger.sides[0] = std::make_unique<SyncSide>(Side::kWin32);
  pinger.sides[1] = std::make_unique<SyncSide>(Side::kFd);
  for (Path path : {Path::kFutex, Path::kWin32, Path::kFd, Path::kDriverLocal}) SetUpPath(pinger, path);
  SyncSide& win32 = *pinger.sides[0];
  benchmark::AddCustomContext("vk_device", win32.device_name);
  benchmark::AddCustomContext("vk_driver", win32.driver_info);
  benchmark::AddCustomContext("machine", MachineDescription());
  benchmark::AddCustomContext("round_trips_per_batch", std::to_string(RoundTrips()));
  benchmark::AddCustomContext("fd_semaphores", pinger.sides[1]->exports_semaphores
                                                   ? "yes"
                                                   : "no: " + pinger.sides[1]->why_not_semaphores);
  benchmark::AddCustomContext(
      "fd_fences", pinger.sides[1]->exports_fences ? "yes" : "no: " + pinger.sides[1]->why_not_fences);
  for (bool queue : {false, true}) {
    for (Path path : {Path::kFutex, Path::kWin32, Path::kFd, Path::kDriverLocal}) {
      if (queue && path == Path::kFutex) continue;
      std::string name = std::string(queue ? "queue_handoff/" : "wakeup/") + PathName(path);
      benchmark::RegisterBenchmark(name.c_str(),
                                   [path, queue](benchmark::State& s) { PingPong(s, path, queue); })
          ->UseManualTime()
          ->Iterations(1);
    }
  }
  SetUpQueueWait(pinger);
  RegisterOpsBenchmarks(pinger.sides[0].get(), pinger.sides[1].get());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  StopPeer(pinger);
  TearDownQueueWait();
  TearDownOpsBenchmarks();
  for (int i = 0; i < 4; ++i) {
    if (pinger.a2b[i] == VK_NULL_HANDLE) continue;
    SyncSide& side = pinger.Of(static_cast<Path>(i));
    side.DestroySemaphore(side.device, pinger.a2b[i], nullptr);
    side.DestroySemaphore(side.device, pinger.b2a[i], nullptr);
  }
  return 0;
}
