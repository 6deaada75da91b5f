// Issue 6, part 3: does the per-operation cost grow with the number of live allocations the layer tracks,
// and how much memory does the layer keep per allocation?
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench_vk.hpp"

namespace ntbridge::bench {
namespace {

constexpr VkDeviceSize kLiveSize = 4096;  // small: the table, not the driver's memory, is what scales
constexpr VkDeviceSize kOpSize = 64 << 10;

std::unique_ptr<VkSide> g_sides[2];
VkSide& Of(Side s) { return *g_sides[s == Side::kWin32 ? 0 : 1]; }

// Live allocations kept between runs of a benchmark (Google Benchmark calls a benchmark several times while
// it picks the iteration count); only one pool is full at a time, so descriptors and mappings suffice.
struct Pool {
  Side side;
  bool exported;
  std::vector<VkDeviceMemory> memories;
};
std::vector<Pool> g_pools;

void Shrink(Pool& p, size_t n) {
  while (p.memories.size() > n) {
    Of(p.side).Free(p.memories.back());
    p.memories.pop_back();
  }
}

// Makes `n` live allocations of (side, exported) and none of any other kind. Empty string on success.
std::string EnsureLive(Side side, bool exported, size_t n) {
  Pool* pool = nullptr;
  for (Pool& p : g_pools) {
    if (p.side == side && p.exported == exported) {
      pool = &p;
    } else {
      Shrink(p, 0);
    }
  }
  if (pool == nullptr) pool = &g_pools.emplace_back(Pool{side, exported, {}});
  Shrink(*pool, n);
  RaiseFdLimit(2 * n + 4096);
  VkSide& vk = Of(side);
  pool->memories.reserve(n);
  while (pool->memories.size() < n) {
    VkResult r;
    VkDeviceMemory m = exported ? vk.AllocateExportable(kLiveSize, &r) : vk.Allocate(kLiveSize, &r);
    if (r != VK_SUCCESS) {
      std::string why = "only " + std::to_string(pool->memories.size()) + " of " + std::to_string(n) +
                        " live allocations could be made: vkAllocateMemory returned " + std::to_string(r);
      Shrink(*pool, 0);  // first: reading /proc needs a free descriptor
      if (exported) {
        std::ifstream f("/proc/sys/vm/max_map_count");
        std::string maps;
        f >> maps;
        rlimit lim{};
        getrlimit(RLIMIT_NOFILE, &lim);
        why +=
            " (a driver that keeps a descriptor and a mapping per exportable allocation is bound by "
            "RLIMIT_NOFILE=" +
            std::to_string(lim.rlim_cur) + " and vm.max_map_count=" + maps + ")";
      }
      return why;
    }
    pool->memories.push_back(m);
  }
  return {};
}

double Now() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

void Fail(benchmark::State& state, const std::string& why) {
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
}

// The full cycle of bench_ops (64 KiB) with N other live allocations.
void ScaleCycle(benchmark::State& state, Side side, bool exported) {
  if (auto why = EnsureLive(side, exported, static_cast<size_t>(state.range(0))); !why.empty()) {
    return Fail(state, why);
  }
  VkSide& vk = Of(side);
  VkResult r = VK_SUCCESS;
  for (auto _ : state) {
    VkDeviceMemory a = vk.AllocateExportable(kOpSize, &r);
    int fd = r == VK_SUCCESS ? vk.Export(a, &r) : -1;
    VkDeviceMemory b = r == VK_SUCCESS ? vk.ImportKeep(fd, kOpSize, &r) : VK_NULL_HANDLE;
    if (r != VK_SUCCESS) {
      state.SkipWithError(("cycle failed: VkResult " + std::to_string(r)).c_str());
      break;
    }
    close(fd);
    vk.Free(b);
    vk.Free(a);
  }
}

// vkGetMemoryWin32HandleKHR / vkGetMemoryFdKHR alone, with N other live allocations: the table lookup. One
// NT handle per memory object (VUID 00663): each batch exports fresh allocations made outside the timing; the
// time is per batch of kBatch handles.
void ScaleGetHandle(benchmark::State& state, Side side, bool exported) {
  if (auto why = EnsureLive(side, exported, static_cast<size_t>(state.range(0))); !why.empty()) {
    return Fail(state, why);
  }
  VkSide& vk = Of(side);
  constexpr int kBatch = 64;
  VkDeviceMemory memories[kBatch];
  int fds[kBatch];
  VkResult r = VK_SUCCESS;
  for (auto _ : state) {
    for (auto& m : memories) {
      m = vk.AllocateExportable(kOpSize, &r);
      if (r != VK_SUCCESS) {
        state.SkipWithError("allocate failed");
        return;
      }
    }
    double t0 = Now();
    for (int i = 0; i < kBatch; ++i) fds[i] = vk.Export(memories[i], &r);
    state.SetIterationTime(Now() - t0);
    for (int i = 0; i < kBatch; ++i) {
      if (fds[i] < 0) state.SkipWithError("export failed");
      if (fds[i] >= 0) close(fds[i]);
      vk.Free(memories[i]);
    }
  }
}

size_t HeapInUse() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

size_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// The layer's memory per tracked allocation: the heap growth for N allocations through the layer minus the
// growth for N allocations on the fd side (the driver's own share is the same on both sides).
void LayerBytesPerAllocation(benchmark::State& state, bool exported) {
  const size_t n = static_cast<size_t>(state.range(0));
  for (Pool& p : g_pools) Shrink(p, 0);
  double heap[2] = {}, rss[2] = {};
  for (auto _ : state) {
    for (Side side : {Side::kWin32, Side::kFd}) {
      const int i = side == Side::kWin32 ? 0 : 1;
      malloc_trim(0);
      size_t heap0 = HeapInUse(), rss0 = RssBytes();
      if (auto why = EnsureLive(side, exported, n); !why.empty()) {
        state.SkipWithError(why.c_str());
        return;
      }
      heap[i] = static_cast<double>(HeapInUse()) - static_cast<double>(heap0);
      rss[i] = static_cast<double>(RssBytes()) - static_cast<double>(rss0);
      for (Pool& p : g_pools) Shrink(p, 0);
    }
  }
  state.counters["layer_heap_bytes_per_allocation"] = (heap[0] - heap[1]) / static_cast<double>(n);
  state.counters["layer_rss_bytes_per_allocation"] = (rss[0] - rss[1]) / static_cast<double>(n);
  state.counters["win32_heap_bytes_per_allocation"] = heap[0] / static_cast<double>(n);
  state.counters["fd_heap_bytes_per_allocation"] = heap[1] / static_cast<double>(n);
}

void Register() {
  const int64_t counts[] = {1, 1000, 10000, 100000};
  for (bool exported : {true, false}) {
    const std::string live = exported ? "live_exported" : "live_plain";
    for (Side side : {Side::kWin32, Side::kFd}) {
      auto* c = benchmark::RegisterBenchmark(
          ("scale_cycle_" + live + "/" + SideName(side)).c_str(),
          [side, exported](benchmark::State& s) { ScaleCycle(s, side, exported); });
      auto* g = benchmark::RegisterBenchmark(
          ("scale_get_handle_" + live + "/" + SideName(side)).c_str(),
          [side, exported](benchmark::State& s) { ScaleGetHandle(s, side, exported); });
      for (int64_t n : counts) {
        c->Arg(n);
        g->Arg(n);
      }
      c->UseRealTime()->MinTime(0.2);
      g->UseManualTime()->Iterations(50);
    }
    auto* m = benchmark::RegisterBenchmark(
        ("layer_bytes_per_allocation_" + live).c_str(),
        [exported](benchmark::State& s) { LayerBytesPerAllocation(s, exported); });
    m->Arg(10000)->Iterations(1)->UseRealTime();
    if (!exported) m->Arg(100000);
  }
}

}  // namespace
}  // namespace ntbridge::bench

int main(int argc, char** argv) {
  using namespace ntbridge::bench;
  PrepareProcess();
  benchmark::Initialize(&argc, argv);
  g_sides[0] = std::make_unique<VkSide>(Side::kWin32);
  g_sides[1] = std::make_unique<VkSide>(Side::kFd);
  benchmark::AddCustomContext("vk_device", g_sides[0]->device_name);
  benchmark::AddCustomContext("vk_driver", g_sides[0]->driver_info);
  benchmark::AddCustomContext("machine", MachineDescription());
  Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (Pool& p : g_pools) Shrink(p, 0);
  g_sides[0].reset();
  g_sides[1].reset();
  return 0;
}
