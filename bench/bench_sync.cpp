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
//  - interleaved/{wakeup,queue_handoff,queue_wait}  several of the above taken in turn, round trip by round
//                        trip (sample by sample), with ratios within each cycle: on a busy machine the legs
//                        of one cycle see the same moment, the targets' ratios come from these
// The ping-pongs wait with UINT64_MAX, as applications do (NTBRIDGE_BENCH_WAIT_TIMEOUT_NS sets another).
// The GPU -> GPU chains between the two processes are in bench_sync_chain.cpp, the operations of one process
// (scale, export / import / free) in bench_sync_ops.cpp.
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
#include "bench_sync_peer.hpp"

namespace ntbridge::bench {

bool SkipUnless(benchmark::State& state, bool can, const std::string& why) {
  if (can) return false;
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
  return true;
}

namespace peer {
Pinger* g_pinger = nullptr;
}  // namespace peer

namespace {

using namespace peer;

constexpr uint64_t kTimeoutNs = 10'000'000'000;  // a fence wait this long means something hangs

constexpr int kWarmup = 20;  // round trips left out of each batch

int RoundTrips() {
  const char* env = std::getenv("NTBRIDGE_BENCH_ROUND_TRIPS");
  return env != nullptr ? std::max(10, std::atoi(env)) : 2000;
}

// B's half of a ping-pong: wait for a2b to reach v, note the time, signal b2a with v; until A sets `stop`.
void PeerLoop(Control::Lane& lane, Path path, uint64_t start, SyncSide* side, VkSemaphore a2b,
              VkSemaphore b2a) {
  for (uint64_t v = start;; ++v) {
    if (path == Path::kFutex) {
      FutexAwait(lane.a2b, static_cast<uint32_t>(v));
    } else if (side->Wait(a2b, v, WaitTimeout()) != VK_SUCCESS) {
      Die(std::string("peer: a wait on ") + PathName(path) + " failed or timed out");
    }
    lane.b_woke_ns.store(NowNs());
    if (lane.stop.load() != 0) return;
    lane.b_sent_ns.store(NowNs());
    if (path == Path::kFutex) {
      FutexSet(lane.b2a, static_cast<uint32_t>(v));
    } else if (side->Signal(b2a, v) != VK_SUCCESS) {
      Die(std::string("peer: a signal of ") + PathName(path) + " failed");
    }
  }
}

// --peer <socket>: process B. Makes its Vulkan sides on first need, imports what A sends, runs a loop per
// path on a thread of its own (several paths run interleaved), each answering when A ends it.
int PeerMain(int s) {
  std::unique_ptr<SyncSide> sides[2];
  VkSemaphore imported[2][2] = {};
  Control* c = nullptr;
  std::thread loops[kPaths];
  for (;;) {
    int fd = -1;
    Message m = Receive(s, &fd);
    if (m.op == kQuit) break;
    Message reply{kReply};
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
    } else if (m.op == kRun && c != nullptr && m.path >= 0 && m.path < kPaths) {
      const Path path = static_cast<Path>(m.path);
      const int i = path == Path::kWin32 ? 0 : 1;
      if (loops[m.path].joinable()) loops[m.path].join();  // ended: A had its answer
      Control::Lane* lane = &c->lanes[m.path];
      SyncSide* side = sides[i].get();
      const VkSemaphore a2b = imported[i][0], b2a = imported[i][1];
      const uint64_t start = m.value;
      loops[m.path] = std::thread([=] {
        PeerLoop(*lane, path, start, side, a2b, b2a);
        Send(s, {kReply, static_cast<int32_t>(path)});
      });
      reply.op = 0;  // the loop answers when it ends
    } else if (m.op == kChain &&
               (m.path == static_cast<int32_t>(Path::kWin32) || m.path == static_cast<int32_t>(Path::kFd))) {
      const int i = m.path == static_cast<int32_t>(Path::kWin32) ? 0 : 1;
      reply.result = sides[i] ? PeerSubmitChain(*sides[i], imported[i][0], imported[i][1], m.value, m.index)
                              : VK_ERROR_INITIALIZATION_FAILED;
    } else if (m.op == kRelay && c != nullptr) {
      if (!sides[1]) sides[1] = std::make_unique<SyncSide>(Side::kFd);
      reply.result = StartRelayHalf(*sides[1], c->relay, true, m.value, m.index);
    }
    if (fd >= 0) close(fd);
    if (reply.op == kReply) Send(s, reply);
  }
  for (std::thread& t : loops) {
    if (t.joinable()) t.join();
  }
  if (sides[1]) EndRelay(*sides[1]);
  for (int i = 0; i < 2; ++i) {
    for (VkSemaphore sem : imported[i]) {
      if (sem != VK_NULL_HANDLE) sides[i]->DestroySemaphore(sides[i]->device, sem, nullptr);
    }
  }
  return 0;
}

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
  SyncSide& side = *p.Of(path);
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

}  // namespace

void peer::StopPeerLoop(Pinger& p, Path path) {
  const int i = static_cast<int>(path);
  Control::Lane& lane = p.control->lanes[i];
  const uint64_t v = p.next[i]++;
  lane.stop.store(1);
  if (path == Path::kFutex) {
    FutexSet(lane.a2b, static_cast<uint32_t>(v));
  } else {
    p.Of(path)->Signal(p.a2b[i], v);
  }
  Receive(p.peer);
  lane.stop.store(0);
}

namespace {

void StopPeer(Pinger& p) {
  Send(p.peer, {kQuit});
  waitpid(p.peer_pid, nullptr, 0);
  close(p.peer);
}

// One leg of a ping-pong: how A signals (a host signal or a queue submission) over which path.
struct Leg {
  Path path;
  bool queue;
  std::string Name() const { return std::string(PathName(path)) + (queue ? "_queue" : ""); }
};

// One batch of round trips over `legs`, taken in turn (leg 0, leg 1, ..., leg 0, ...), so that every leg
// sees the same moments of a busy machine. Its time is the median A -> B latency of the first leg.
void PingPong(benchmark::State& state, std::vector<Leg> legs) {
  Pinger& p = *g_pinger;
  if (legs.size() == 1) {
    const std::string& why = p.why_not[static_cast<int>(legs[0].path)];
    if (SkipUnless(state, why.empty(), why)) return;
  }
  std::erase_if(legs, [&](const Leg& l) { return !p.why_not[static_cast<int>(l.path)].empty(); });
  bool runs[kPaths] = {};
  for (const Leg& l : legs) runs[static_cast<int>(l.path)] = true;
  const int n = RoundTrips();
  std::vector<std::vector<int64_t>> forward(legs.size()), back(legs.size()), round(legs.size());
  for (auto _ : state) {
    std::thread local;
    for (int i = 0; i < kPaths; ++i) {
      if (!runs[i]) continue;
      const Path path = static_cast<Path>(i);
      if (path == Path::kDriverLocal) {
        const uint64_t start = p.next[i];  // read here: the round trips below move it
        local = std::thread([&p, path, i, start] {
          PeerLoop(p.control->lanes[i], path, start, p.Of(path), p.a2b[i], p.b2a[i]);
        });
      } else {
        Send(p.peer, {kRun, i, 0, 0, p.next[i]});
      }
    }
    for (size_t l = 0; l < legs.size(); ++l) {
      forward[l].clear();
      back[l].clear();
      round[l].clear();
    }
    ThreadTimes before;
    for (int k = 0; k < n + kWarmup; ++k) {
      if (k == kWarmup) before = ThreadTimes::Take();
      for (size_t l = 0; l < legs.size(); ++l) {
        const Leg leg = legs[l];
        const int i = static_cast<int>(leg.path);
        Control::Lane& lane = p.control->lanes[i];
        SyncSide* side = p.Of(leg.path);
        const uint64_t v = p.next[i]++;
        const int64_t t0 = NowNs();
        bool ok = true;
        if (leg.path == Path::kFutex) {
          FutexSet(lane.a2b, static_cast<uint32_t>(v));
          FutexAwait(lane.b2a, static_cast<uint32_t>(v));
        } else {
          ok = (leg.queue ? side->Submit(VK_NULL_HANDLE, 0, VK_NULL_HANDLE, p.a2b[i], v, VK_NULL_HANDLE)
                          : side->Signal(p.a2b[i], v)) == VK_SUCCESS &&
               side->Wait(p.b2a[i], v, WaitTimeout()) == VK_SUCCESS;
        }
        const int64_t t3 = NowNs();
        if (!ok) Die(leg.Name() + ": A's signal or wait failed (or timed out)");
        if (k < kWarmup) continue;
        forward[l].push_back(lane.b_woke_ns.load() - t0);
        back[l].push_back(t3 - lane.b_sent_ns.load());
        round[l].push_back(t3 - t0);
      }
    }
    const ThreadTimes after = ThreadTimes::Take();
    // The end of each path: B wakes for one more value and finds `stop`.
    int answers = 0;
    for (int i = 0; i < kPaths; ++i) {
      if (!runs[i]) continue;
      Control::Lane& lane = p.control->lanes[i];
      const uint64_t v = p.next[i]++;
      lane.stop.store(1);
      if (i == static_cast<int>(Path::kFutex)) {
        FutexSet(lane.a2b, static_cast<uint32_t>(v));
      } else {
        p.Of(static_cast<Path>(i))->Signal(p.a2b[i], v);
      }
      if (i != static_cast<int>(Path::kDriverLocal)) ++answers;
    }
    if (local.joinable()) local.join();
    for (; answers > 0; --answers) Receive(p.peer);
    for (Control::Lane& lane : p.control->lanes) lane.stop.store(0);

    state.SetIterationTime(Quantile(forward[0], 0.5) * 1e-9);
    state.counters["round_trips"] = n;
    std::string what = "round trips of";
    for (const Leg& l : legs) {
      what += ' ';
      what += l.Name();
    }
    ReportThreadTimes(state, before, after, n * static_cast<int>(legs.size()), what);
    if (legs.size() == 1) {
      state.counters["forward_us_p10"] = Quantile(forward[0], 0.1) * 1e-3;
      state.counters["forward_us_median"] = Quantile(forward[0], 0.5) * 1e-3;
      state.counters["forward_us_p90"] = Quantile(forward[0], 0.9) * 1e-3;
      state.counters["back_us_median"] = Quantile(back[0], 0.5) * 1e-3;  // B -> A, always a host signal
      state.counters["round_trip_us_median"] = Quantile(round[0], 0.5) * 1e-3;
      continue;
    }
    // Round trip k of every leg belongs to cycle k: ratios within a cycle compare the same moment of the
    // machine, which a busy machine makes bimodal (each leg's median can fall in either mode).
    const auto& f = forward;
    auto leg = [&](const char* name) -> const std::vector<int64_t>* {
      for (size_t l = 0; l < legs.size(); ++l) {
        if (legs[l].Name() == name) return &f[l];
      }
      return nullptr;
    };
    const size_t cycles = f[0].size();
    for (size_t l = 1; l < legs.size(); ++l) {
      state.counters[legs[0].Name() + "_over_" + legs[l].Name()] =
          PairedMedian(cycles, [&](size_t k) { return static_cast<double>(f[0][k]) / f[l][k]; });
    }
    const auto *q = leg("win32_queue"), *ql = leg("driver_local_queue"), *hl = leg("driver_local"),
               *fu = leg("futex");
    if (q && ql && hl && fu) {
      // From the queue signal's completion to B: the handoff less what the driver takes from the submission
      // to a host waiter of its own, plus that waiter's wake-up; in raw futex wake-ups.
      state.counters["win32_queue_from_completion_over_futex"] = PairedMedian(cycles, [&](size_t k) {
        return static_cast<double>((*q)[k] - (*ql)[k] + (*hl)[k]) / static_cast<double>((*fu)[k]);
      });
    }
    for (size_t l = 0; l < legs.size(); ++l) {
      state.counters[legs[l].Name() + "_us"] = Quantile(forward[l], 0.5) * 1e-3;
      state.counters[legs[l].Name() + "_p10_us"] = Quantile(forward[l], 0.1) * 1e-3;
      state.counters[legs[l].Name() + "_p90_us"] = Quantile(forward[l], 0.9) * 1e-3;
    }
  }
}

// GPU work behind a queue wait: from the host signal to the return of vkWaitForFences.
constexpr int kQueueWaits = 200;
struct QueueWaitSetup {
  const char* name = "";
  SyncSide* side = nullptr;
  VkSemaphore semaphore = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  uint64_t next = 1;
  std::string why_not;
};
QueueWaitSetup g_queue_wait[3];  // win32 (exportable), fd (exportable), driver (plain, fd side)

// One sample: submit, let every thread that takes part (the driver's, the layer's) go to sleep so that the
// wait is real, signal, wait for the fence.
int64_t QueueWaitOnce(QueueWaitSetup& q) {
  SyncSide& side = *q.side;
  const uint64_t v = q.next++;
  if (side.Submit(q.semaphore, v, side.work, VK_NULL_HANDLE, 0, q.fence) != VK_SUCCESS) Die("submit");
  std::this_thread::sleep_for(std::chrono::microseconds(300));
  const int64_t t0 = NowNs();
  side.Signal(q.semaphore, v);
  if (side.WaitForFences(side.device, 1, &q.fence, VK_TRUE, kTimeoutNs) != VK_SUCCESS) Die("fence wait");
  const int64_t t = NowNs() - t0;
  side.ResetFences(side.device, 1, &q.fence);
  return t;
}

// `which`: indices into g_queue_wait, taken in turn; the time is the median of the first.
void QueueWait(benchmark::State& state, std::vector<int> which) {
  if (which.size() == 1) {
    const std::string& why = g_queue_wait[which[0]].why_not;
    if (SkipUnless(state, why.empty(), why)) return;
  }
  std::erase_if(which, [](int w) { return !g_queue_wait[w].why_not.empty(); });
  std::vector<std::vector<int64_t>> times(which.size());
  for (auto _ : state) {
    for (auto& t : times) t.clear();
    const ThreadTimes before = ThreadTimes::Take();
    for (int k = 0; k < kQueueWaits; ++k) {
      for (size_t j = 0; j < which.size(); ++j) times[j].push_back(QueueWaitOnce(g_queue_wait[which[j]]));
    }
    std::string what = "queue waits of";
    for (int w : which) {
      what += ' ';
      what += g_queue_wait[w].name;
    }
    ReportThreadTimes(state, before, ThreadTimes::Take(), kQueueWaits * static_cast<int>(which.size()), what);
    state.SetIterationTime(Quantile(times[0], 0.5) * 1e-9);
    if (which.size() == 1) {
      state.counters["us_p10"] = Quantile(times[0], 0.1) * 1e-3;
      state.counters["us_median"] = Quantile(times[0], 0.5) * 1e-3;
      state.counters["us_p90"] = Quantile(times[0], 0.9) * 1e-3;
      continue;
    }
    // Sample k of each setup is taken one after the other: differences within k see the same machine.
    for (size_t j = 1; j < which.size(); ++j) {
      const std::string name =
          std::string(g_queue_wait[which[0]].name) + "_minus_" + g_queue_wait[which[j]].name;
      state.counters[name + "_us"] = PairedMedian(
          times[0].size(), [&](size_t k) { return static_cast<double>(times[0][k] - times[j][k]) * 1e-3; });
      state.counters[std::string(g_queue_wait[which[0]].name) + "_over_" + g_queue_wait[which[j]].name] =
          PairedMedian(times[0].size(), [&](size_t k) {
            return static_cast<double>(times[0][k]) / static_cast<double>(times[j][k]);
          });
    }
    for (size_t j = 0; j < which.size(); ++j) {
      state.counters[std::string(g_queue_wait[which[j]].name) + "_us"] = Quantile(times[j], 0.5) * 1e-3;
      state.counters[std::string(g_queue_wait[which[j]].name) + "_p10_us"] = Quantile(times[j], 0.1) * 1e-3;
    }
  }
}

void SetUpQueueWait(Pinger& p) {
  const char* names[3] = {"win32", "fd", "driver"};
  for (int w = 0; w < 3; ++w) {
    QueueWaitSetup& q = g_queue_wait[w];
    q.name = names[w];
    q.side = p.sides[w == 0 ? 0 : 1].get();
    const bool exportable = w != 2;
    if (exportable && !q.side->exports_semaphores) {
      q.why_not = q.side->why_not_semaphores;
      continue;
    }
    VkResult r = VK_SUCCESS;
    q.semaphore = q.side->Timeline(exportable, 0, &r);
    if (r == VK_SUCCESS) q.fence = q.side->Fence(false, &r);
    if (r != VK_SUCCESS) Die(std::string("queue_wait/") + names[w] + ": setup failed");
  }
}

void TearDownQueueWait() {
  for (QueueWaitSetup& q : g_queue_wait) {
    if (q.semaphore != VK_NULL_HANDLE) q.side->DestroySemaphore(q.side->device, q.semaphore, nullptr);
    if (q.fence != VK_NULL_HANDLE) q.side->DestroyFence(q.side->device, q.fence, nullptr);
  }
}

void RegisterHandoffBenchmarks() {
  auto add = [](const std::string& name, std::vector<Leg> legs) {
    benchmark::RegisterBenchmark(name.c_str(), [legs](benchmark::State& s) { PingPong(s, legs); })
        ->UseManualTime()
        ->Iterations(1);
  };
  const Path paths[] = {Path::kFutex, Path::kWin32, Path::kFd, Path::kDriverLocal};
  for (Path path : paths) add(std::string("wakeup/") + PathName(path), {{path, false}});
  for (Path path : paths) {
    if (path != Path::kFutex) add(std::string("queue_handoff/") + PathName(path), {{path, true}});
  }
  // Legs in turn, round trip by round trip: the ratios of the targets come from these. The host wake-ups
  // apart from the queue handoffs: a queue leg can leave the machine busier for the next leg (the layer's
  // publisher thread spins in the driver's wait on lavapipe, see docs/performance.md).
  add("interleaved/wakeup",
      {{Path::kWin32, false}, {Path::kFutex, false}, {Path::kFd, false}, {Path::kDriverLocal, false}});
  add("interleaved/queue_handoff", {{Path::kWin32, true},
                                    {Path::kFutex, false},
                                    {Path::kFd, true},
                                    {Path::kDriverLocal, true},
                                    {Path::kDriverLocal, false}});
  auto add_wait = [](const std::string& name, std::vector<int> which) {
    benchmark::RegisterBenchmark(name.c_str(), [which](benchmark::State& s) { QueueWait(s, which); })
        ->UseManualTime()
        ->Iterations(1);
  };
  for (int w = 0; w < 3; ++w) add_wait(std::string("queue_wait/") + g_queue_wait[w].name, {w});
  add_wait("interleaved/queue_wait", {0, 1, 2});
}

}  // namespace
}  // namespace ntbridge::bench

int main(int argc, char** argv) {
  using namespace ntbridge::bench;
  PrepareProcess();
  if (argc == 3 && std::strcmp(argv[1], "--peer") == 0) return PeerMain(std::atoi(argv[2]));
  benchmark::Initialize(&argc, argv);
  Pinger pinger;
  g_pinger = &pinger;
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
  SetUpQueueWait(pinger);
  RegisterHandoffBenchmarks();
  RegisterChainBenchmarks();
  RegisterOpsBenchmarks(pinger.sides[0].get(), pinger.sides[1].get());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  StopPeer(pinger);
  EndRelay(*pinger.sides[1]);
  TearDownQueueWait();
  TearDownOpsBenchmarks();
  for (int i = 0; i < kPaths; ++i) {
    if (pinger.a2b[i] == VK_NULL_HANDLE) continue;
    SyncSide& side = *pinger.Of(static_cast<Path>(i));
    side.DestroySemaphore(side.device, pinger.a2b[i], nullptr);
    side.DestroySemaphore(side.device, pinger.b2a[i], nullptr);
  }
  return 0;
}
