// GPU -> GPU handoffs between two processes (issue 13): A's queue signals, B's waiting GPU work starts, and
// back. Both processes queue a chain before the clock starts, so no host call is on the path:
//   A's submission k (k = 0 .. K-1): wait b2a >= base + k, a 4-byte fill, signal a2b = base + k
//   B's submission k:                wait a2b >= base + k, a 4-byte fill, signal b2a = base + k + 1
// then A signals b2a = base from the host (the start) and waits on the host for b2a = base + K (the end).
// Between the two, 2K + 1 handoffs (2K - 1 from one process's GPU work to the other's, the start and the
// end); the time per handoff is the batch's time over 2K + 1.
//  - interleaved/gpu_handoff  batches of the legs in turn, batch by batch:
//      win32   the chain over NT handles through the layer (the shared payload on a driver without external
//              sync, whose queue signals and waits the layer's threads carry; the driver's payload elsewhere)
//      fd      the same over the driver's OPAQUE_FD timeline semaphores, no layer (vkGetSemaphoreFdKHR /
//              vkImportSemaphoreFdKHR), where the driver has them
//      relay   what the layer does on a driver without external sync, built by the application from the
//              driver's plain timeline semaphores, no layer: in each process the chain waits on and signals
//              semaphores of its own, a host thread waits for each signal and publishes it into a futex word
//              in a shared page, another waits on the other process's word and signals the wait's semaphore
//      futex   the floor: the same number of round trips between the two processes on a raw futex word in
//              a shared page (FUTEX_WAKE / FUTEX_WAIT), time per handoff = time over 2K
//    Ratios within each cycle of batches (the same moment of the machine), median over the cycles.
// NTBRIDGE_BENCH_CHAIN sets K (32), NTBRIDGE_BENCH_CHAIN_BATCHES the cycles per repetition (40).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_sync.hpp"
#include "bench_sync_peer.hpp"

namespace ntbridge::bench::peer {
namespace {

constexpr uint64_t kEndTimeoutNs = 10'000'000'000;  // a chain this late means something hangs

int EnvInt(const char* name, int fallback, int least) {
  const char* env = std::getenv(name);
  return env != nullptr ? std::max(least, std::atoi(env)) : fallback;
}
int ChainLength() { return EnvInt("NTBRIDGE_BENCH_CHAIN", 32, 1); }
int ChainBatches() { return EnvInt("NTBRIDGE_BENCH_CHAIN_BATCHES", 40, 2); }

// One chain on `path` (win32 or fd); the time per handoff in ns.
double ChainBatch(Pinger& p, Path path, int count) {
  const int i = static_cast<int>(path);
  SyncSide& side = *p.Of(path);
  const uint64_t base = p.next[i];
  Send(p.peer, {kChain, i, count, 0, base});
  if (Message reply = Receive(p.peer); reply.result != VK_SUCCESS) {
    Die(std::string("gpu_handoff/") + PathName(path) + ": the peer's submissions failed: VkResult " +
        std::to_string(reply.result));
  }
  for (int k = 0; k < count; ++k) {
    const uint64_t v = base + static_cast<uint64_t>(k);
    if (side.Submit(p.b2a[i], v, side.tiny, p.a2b[i], v, VK_NULL_HANDLE) != VK_SUCCESS) {
      Die(std::string("gpu_handoff/") + PathName(path) + ": vkQueueSubmit failed");
    }
  }
  // Every thread that takes part (the drivers', the layer's) goes to sleep before the start.
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int64_t t0 = NowNs();
  VkResult r = side.Signal(p.b2a[i], base);
  if (r == VK_SUCCESS) r = side.Wait(p.b2a[i], base + static_cast<uint64_t>(count), kEndTimeoutNs);
  const int64_t t = NowNs() - t0;
  if (r != VK_SUCCESS) {
    Die(std::string("gpu_handoff/") + PathName(path) + ": the chain did not end (VkResult " +
        std::to_string(r) + ")");
  }
  p.next[i] = base + static_cast<uint64_t>(count) + 1;
  return static_cast<double>(t) / (2.0 * count + 1);
}

// The relay's state in this process (A's or B's): its two semaphores and host threads.
struct Relay {
  SyncSide* side = nullptr;
  VkSemaphore go = VK_NULL_HANDLE;    // the chain's submissions wait on it; the gate thread signals it
  VkSemaphore done = VK_NULL_HANDLE;  // the submissions signal it; the publisher thread waits on it
  std::thread publisher, gate;
  void Join() {
    if (publisher.joinable()) publisher.join();
    if (gate.joinable()) gate.join();
  }
};
Relay g_relay;

// A relay chain: as ChainBatch, with the relay lane's futex words for a2b and b2a.
double RelayBatch(Pinger& p, int count) {
  static uint64_t next = 1;
  const uint64_t base = next;
  Control::Lane& lane = p.control->relay;
  Send(p.peer, {kRelay, 0, count, 0, base});
  if (Message reply = Receive(p.peer); reply.result != VK_SUCCESS) {
    Die("gpu_handoff/relay: the peer's half failed: VkResult " + std::to_string(reply.result));
  }
  if (VkResult r = StartRelayHalf(*p.sides[1], lane, false, base, count); r != VK_SUCCESS) {
    Die("gpu_handoff/relay: vkQueueSubmit failed: VkResult " + std::to_string(r));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int64_t t0 = NowNs();
  FutexSet(lane.b2a, static_cast<uint32_t>(base));
  FutexAwaitAtLeast(lane.b2a, static_cast<uint32_t>(base + static_cast<uint64_t>(count)));
  const int64_t t = NowNs() - t0;
  g_relay.Join();
  next = base + static_cast<uint64_t>(count) + 1;
  return static_cast<double>(t) / (2.0 * count + 1);
}

// `count` round trips on the futex lane, whose loop in B runs; the time per handoff in ns.
double FutexBatch(Pinger& p, int count) {
  const int i = static_cast<int>(Path::kFutex);
  Control::Lane& lane = p.control->lanes[i];
  const int64_t t0 = NowNs();
  for (int k = 0; k < count; ++k) {
    const uint64_t v = p.next[i]++;
    FutexSet(lane.a2b, static_cast<uint32_t>(v));
    FutexAwait(lane.b2a, static_cast<uint32_t>(v));
  }
  return static_cast<double>(NowNs() - t0) / (2.0 * count);
}

void GpuHandoff(benchmark::State& state) {
  Pinger& p = *g_pinger;
  const std::string& why = p.why_not[static_cast<int>(Path::kWin32)];
  if (SkipUnless(state, why.empty(), why)) return;
  // Path::kDriverLocal stands for the relay (plain driver semaphores, carried by the application).
  std::vector<Path> legs = {Path::kWin32, Path::kFutex, Path::kDriverLocal};
  if (p.why_not[static_cast<int>(Path::kFd)].empty()) legs.push_back(Path::kFd);
  auto name_of = [](Path l) { return l == Path::kDriverLocal ? std::string("relay") : PathName(l); };
  const int count = ChainLength(), batches = ChainBatches();
  std::vector<std::vector<double>> per(legs.size());
  for (auto _ : state) {
    const int f = static_cast<int>(Path::kFutex);
    Send(p.peer, {kRun, f, 0, 0, p.next[f]});
    for (auto& v : per) v.clear();
    ThreadTimes before;
    for (int b = -1; b < batches; ++b) {  // cycle -1: warm-up, left out
      if (b == 0) before = ThreadTimes::Take();
      for (size_t l = 0; l < legs.size(); ++l) {
        const double ns = legs[l] == Path::kFutex         ? FutexBatch(p, count)
                          : legs[l] == Path::kDriverLocal ? RelayBatch(p, count)
                                                          : ChainBatch(p, legs[l], count);
        if (b >= 0) per[l].push_back(ns);
      }
    }
    const ThreadTimes after = ThreadTimes::Take();
    StopPeerLoop(p, Path::kFutex);

    state.SetIterationTime(Quantile(per[0], 0.5) * 1e-9);
    state.counters["chain"] = count;
    state.counters["batches"] = batches;
    std::string what = "handoffs of";
    for (Path l : legs) {
      what += ' ';  // (not " " + name: GCC 12 -Wrestrict at -O3)
      what += name_of(l);
    }
    ReportThreadTimes(state, before, after, batches * static_cast<int>(legs.size()) * (2 * count + 1), what);
    for (size_t l = 0; l < legs.size(); ++l) {
      const std::string name = name_of(legs[l]);
      // Quantile reorders: the ratios below pair by cycle, so they go first.
      if (l > 0) {
        state.counters["win32_over_" + name] =
            PairedMedian(per[0].size(), [&](size_t k) { return per[0][k] / per[l][k]; });
      }
    }
    for (size_t l = 0; l < legs.size(); ++l) {
      const std::string name = name_of(legs[l]);
      state.counters[name + "_us"] = Quantile(per[l], 0.5) * 1e-3;
      state.counters[name + "_p10_us"] = Quantile(per[l], 0.1) * 1e-3;
      state.counters[name + "_p90_us"] = Quantile(per[l], 0.9) * 1e-3;
      state.counters[name + "_round_trips_per_s"] = 1e9 / (2 * Quantile(per[l], 0.5));
    }
  }
}

}  // namespace

VkResult PeerSubmitChain(SyncSide& side, VkSemaphore a2b, VkSemaphore b2a, uint64_t base, int count) {
  for (int k = 0; k < count; ++k) {
    const uint64_t v = base + static_cast<uint64_t>(k);
    VkResult r = side.Submit(a2b, v, side.tiny, b2a, v + 1, VK_NULL_HANDLE);
    if (r != VK_SUCCESS) return r;
  }
  return VK_SUCCESS;
}

VkResult StartRelayHalf(SyncSide& side, Control::Lane& lane, bool peer_half, uint64_t base, int count) {
  Relay& r = g_relay;
  r.Join();
  if (r.side == nullptr) {
    VkResult result = VK_SUCCESS;
    r.side = &side;
    r.go = side.Timeline(false, 0, &result);
    if (result == VK_SUCCESS) r.done = side.Timeline(false, 0, &result);
    if (result != VK_SUCCESS) return result;
  }
  // A's submission k signals done = base + k and publishes it into a2b; B's signals base + k + 1 into b2a.
  const uint64_t d = peer_half ? 1 : 0;
  std::atomic<uint32_t>& in = peer_half ? lane.a2b : lane.b2a;
  std::atomic<uint32_t>& out = peer_half ? lane.b2a : lane.a2b;
  for (int k = 0; k < count; ++k) {
    const uint64_t v = base + static_cast<uint64_t>(k);
    if (VkResult result = side.Submit(r.go, v, side.tiny, r.done, v + d, VK_NULL_HANDLE);
        result != VK_SUCCESS) {
      return result;
    }
  }
  r.publisher = std::thread([&r, &out, base, count, d] {
    for (int k = 0; k < count; ++k) {
      const uint64_t v = base + static_cast<uint64_t>(k) + d;
      if (r.side->Wait(r.done, v, kEndTimeoutNs) != VK_SUCCESS) Die("relay: a queue signal did not come");
      FutexSet(out, static_cast<uint32_t>(v));
    }
  });
  r.gate = std::thread([&r, &in, base, count] {
    for (int k = 0; k < count; ++k) {
      const uint64_t v = base + static_cast<uint64_t>(k);
      FutexAwaitAtLeast(in, static_cast<uint32_t>(v));
      if (r.side->Signal(r.go, v) != VK_SUCCESS) Die("relay: vkSignalSemaphore failed");
    }
  });
  return VK_SUCCESS;
}

void EndRelay(SyncSide& side) {
  Relay& r = g_relay;
  r.Join();
  if (r.side != &side) return;
  if (r.go != VK_NULL_HANDLE) side.DestroySemaphore(side.device, r.go, nullptr);
  if (r.done != VK_NULL_HANDLE) side.DestroySemaphore(side.device, r.done, nullptr);
  r = Relay{};
}

void RegisterChainBenchmarks() {
  benchmark::RegisterBenchmark("interleaved/gpu_handoff", GpuHandoff)->UseManualTime()->Iterations(1);
}

}  // namespace ntbridge::bench::peer
