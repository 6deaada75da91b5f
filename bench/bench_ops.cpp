// Issue 6, part 1: the layer's Win32 path next to the driver's own fd path, operation by operation.
// Each benchmark has a twin named with "/win32" in place of "/fd"; run with repetitions and
// --benchmark_enable_random_interleaving=true so the twins alternate (scripts/bench.sh does).
#include <benchmark/benchmark.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "bench_vk.hpp"

namespace ntbridge::bench {
namespace {

std::unique_ptr<VkSide> g_sides[2];
VkSide& Of(Side s) { return *g_sides[s == Side::kWin32 ? 0 : 1]; }

bool Check(benchmark::State& state, VkResult r, const char* what) {
  if (r == VK_SUCCESS) return true;
  state.SkipWithError((std::string(what) + " failed: VkResult " + std::to_string(r)).c_str());
  return false;
}

// allocate exportable -> get handle -> import (app keeps its handle) -> close handle -> free both.
void Cycle(benchmark::State& state, Side side) {
  VkSide& vk = Of(side);
  const VkDeviceSize size = static_cast<VkDeviceSize>(state.range(0));
  VkResult r = VK_SUCCESS;
  for (auto _ : state) {
    VkDeviceMemory exported = vk.AllocateExportable(size, &r);
    if (!Check(state, r, "allocate exportable")) break;
    int fd = vk.Export(exported, &r);
    if (!Check(state, r, "export")) break;
    VkDeviceMemory imported = vk.ImportKeep(fd, size, &r);
    if (!Check(state, r, "import")) break;
    close(fd);  // CloseHandle
    vk.Free(imported);
    vk.Free(exported);
  }
}

// vkAllocateMemory with VkExportMemoryAllocateInfo, then vkFreeMemory.
void AllocateExportableFree(benchmark::State& state, Side side) {
  VkSide& vk = Of(side);
  const VkDeviceSize size = static_cast<VkDeviceSize>(state.range(0));
  VkResult r = VK_SUCCESS;
  for (auto _ : state) {
    VkDeviceMemory m = vk.AllocateExportable(size, &r);
    if (!Check(state, r, "allocate exportable")) break;
    vk.Free(m);
  }
}

// vkGetMemoryWin32HandleKHR versus vkGetMemoryFdKHR (and closing what came back). An NT handle may be
// fetched once per memory object (VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663), so each timed batch
// gets the handles of kBatch fresh allocations made outside the timed region; the time is per batch
// of kBatch handles (the ratio of the two sides is what counts).
constexpr int kBatch = 64;

double Now() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

void GetHandle(benchmark::State& state, Side side) {
  VkSide& vk = Of(side);
  const VkDeviceSize size = static_cast<VkDeviceSize>(state.range(0));
  VkResult r = VK_SUCCESS;
  VkDeviceMemory memories[kBatch];
  int fds[kBatch];
  for (auto _ : state) {
    for (auto& m : memories) {
      m = vk.AllocateExportable(size, &r);
      if (!Check(state, r, "allocate exportable")) return;
    }
    double t0 = Now();
    for (int i = 0; i < kBatch; ++i) fds[i] = vk.Export(memories[i], &r);
    double t1 = Now();
    state.SetIterationTime(t1 - t0);
    for (int i = 0; i < kBatch; ++i) {
      if (fds[i] < 0) {
        state.SkipWithError("export failed");
      } else {
        close(fds[i]);
      }
      vk.Free(memories[i]);
    }
  }
}

// Import from a handle the application keeps, then vkFreeMemory.
void ImportFree(benchmark::State& state, Side side) {
  VkSide& vk = Of(side);
  const VkDeviceSize size = static_cast<VkDeviceSize>(state.range(0));
  VkResult r = VK_SUCCESS;
  VkDeviceMemory m = vk.AllocateExportable(size, &r);
  if (!Check(state, r, "allocate exportable")) return;
  int fd = vk.Export(m, &r);
  if (Check(state, r, "export")) {
    for (auto _ : state) {
      VkDeviceMemory imported = vk.ImportKeep(fd, size, &r);
      if (!Check(state, r, "import")) break;
      vk.Free(imported);
    }
    close(fd);
  }
  vk.Free(m);
}

// A non-exportable allocation on a device with the extension enabled: the layer still records it.
void AllocateFree(benchmark::State& state, Side side) {
  VkSide& vk = Of(side);
  const VkDeviceSize size = static_cast<VkDeviceSize>(state.range(0));
  VkResult r = VK_SUCCESS;
  for (auto _ : state) {
    VkDeviceMemory m = vk.Allocate(size, &r);
    if (!Check(state, r, "allocate")) break;
    vk.Free(m);
  }
}

void Register() {
  struct Op {
    const char* name;
    void (*fn)(benchmark::State&, Side);
  };
  const Op ops[] = {{"cycle", Cycle},
                    {"allocate_exportable_free", AllocateExportableFree},
                    {"get_handle", GetHandle},
                    {"import_free", ImportFree},
                    {"allocate_free", AllocateFree}};
  const int64_t sizes[] = {64 << 10, 1 << 20, 256 << 20};
  for (const Op& op : ops) {
    for (Side side : {Side::kWin32, Side::kFd}) {
      auto* b = benchmark::RegisterBenchmark((std::string(op.name) + "/" + SideName(side)).c_str(),
                                             [fn = op.fn, side](benchmark::State& s) { fn(s, side); });
      for (int64_t size : sizes) b->Arg(size);
      const char* fixed = std::getenv("NTBRIDGE_BENCH_ITERATIONS");  // for bench/profile.sh
      if (op.fn == GetHandle) {
        b->UseManualTime()->Iterations(fixed ? std::atoll(fixed) : 50);
      } else if (fixed) {
        b->UseRealTime()->Iterations(std::atoll(fixed));
      } else {
        b->UseRealTime()->MinTime(0.1);
      }
    }
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
  benchmark::AddCustomContext("memory_type", std::to_string(g_sides[0]->memory_type));
  Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_sides[0].reset();
  g_sides[1].reset();
  return 0;
}
