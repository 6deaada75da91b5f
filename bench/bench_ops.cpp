// Issue 6, part 1: the layer's Win32 path next to the driver's own fd path, operation by operation.
// Each benchmark has a twin named with "/win32" in place of "/fd"; run with repetitions and
// --benchmark_enable_random_interleaving=true so the twins alternate (scripts/bench.sh does).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
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

// A reference line, not a side of its own: the fd path plus the system calls that the Win32 semantics add
// to it whatever the implementation, on the fd side's device. An NT handle must be close-on-exec (an fcntl,
// where the driver's descriptor is not already) and must name its payload so that an import can be checked
// against its exporter (an fstat); an import must look at the descriptor before a driver reads from it (an
// fstat). "fd_floor / fd" is the least a Win32 path on this driver can cost; "win32 / fd_floor" is what the
// layer's own code adds on top.
bool g_driver_fds_cloexec = false;  // learned once in main()

int ExportFloor(VkSide& vk, VkDeviceMemory memory, VkResult* r) {
  int fd = vk.Export(memory, r);
  if (fd < 0) return fd;
  if (!g_driver_fds_cloexec) fcntl(fd, F_SETFD, FD_CLOEXEC);
  struct stat st {};
  benchmark::DoNotOptimize(fstat(fd, &st));
  return fd;
}

VkDeviceMemory ImportKeepFloor(VkSide& vk, int fd, VkDeviceSize size, VkResult* r) {
  struct stat st {};
  benchmark::DoNotOptimize(fstat(fd, &st));
  return vk.ImportKeep(fd, size, r);
}

// The three paths a benchmark body runs: Win32 (through the layer), fd (the driver alone) and the floor.
enum class Path { kWin32, kFd, kFdFloor };
const char* PathName(Path p) { return p == Path::kWin32 ? "win32" : p == Path::kFd ? "fd" : "fd_floor"; }
VkSide& Of(Path p) { return Of(p == Path::kWin32 ? Side::kWin32 : Side::kFd); }
int ExportOn(Path p, VkSide& vk, VkDeviceMemory memory, VkResult* r) {
  return p == Path::kFdFloor ? ExportFloor(vk, memory, r) : vk.Export(memory, r);
}
VkDeviceMemory ImportKeepOn(Path p, VkSide& vk, int fd, VkDeviceSize size, VkResult* r) {
  return p == Path::kFdFloor ? ImportKeepFloor(vk, fd, size, r) : vk.ImportKeep(fd, size, r);
}

bool Check(benchmark::State& state, VkResult r, const char* what) {
  if (r == VK_SUCCESS) return true;
  state.SkipWithError((std::string(what) + " failed: VkResult " + std::to_string(r)).c_str());
  return false;
}

// allocate exportable -> get handle -> import (app keeps its handle) -> close handle -> free both.
void Cycle(benchmark::State& state, Path path) {
  VkSide& vk = Of(path);
  const VkDeviceSize size = static_cast<VkDeviceSize>(state.range(0));
  VkResult r = VK_SUCCESS;
  for (auto _ : state) {
    VkDeviceMemory exported = vk.AllocateExportable(size, &r);
    if (!Check(state, r, "allocate exportable")) break;
    int fd = ExportOn(path, vk, exported, &r);
    if (!Check(state, r, "export")) break;
    VkDeviceMemory imported = ImportKeepOn(path, vk, fd, size, &r);
    if (!Check(state, r, "import")) break;
    close(fd);  // CloseHandle
    vk.Free(imported);
    vk.Free(exported);
  }
}

// vkAllocateMemory with VkExportMemoryAllocateInfo, then vkFreeMemory.
void AllocateExportableFree(benchmark::State& state, Path path) {
  VkSide& vk = Of(path);
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

void GetHandle(benchmark::State& state, Path path) {
  VkSide& vk = Of(path);
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
    for (int i = 0; i < kBatch; ++i) fds[i] = ExportOn(path, vk, memories[i], &r);
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
void ImportFree(benchmark::State& state, Path path) {
  VkSide& vk = Of(path);
  const VkDeviceSize size = static_cast<VkDeviceSize>(state.range(0));
  VkResult r = VK_SUCCESS;
  VkDeviceMemory m = vk.AllocateExportable(size, &r);
  if (!Check(state, r, "allocate exportable")) return;
  int fd = vk.Export(m, &r);
  if (Check(state, r, "export")) {
    for (auto _ : state) {
      VkDeviceMemory imported = ImportKeepOn(path, vk, fd, size, &r);
      if (!Check(state, r, "import")) break;
      vk.Free(imported);
    }
    close(fd);
  }
  vk.Free(m);
}

// A non-exportable allocation on a device with the extension enabled: the layer still records it.
void AllocateFree(benchmark::State& state, Path path) {
  VkSide& vk = Of(path);
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
    void (*fn)(benchmark::State&, Path);
    bool floor;  // the Win32 semantics add system calls to this operation: run the floor too
  };
  const Op ops[] = {{"cycle", Cycle, true},
                    {"allocate_exportable_free", AllocateExportableFree, false},
                    {"get_handle", GetHandle, true},
                    {"import_free", ImportFree, true},
                    {"allocate_free", AllocateFree, false}};
  const int64_t sizes[] = {64 << 10, 1 << 20, 256 << 20};
  for (const Op& op : ops) {
    for (Path path : {Path::kWin32, Path::kFd, Path::kFdFloor}) {
      if (path == Path::kFdFloor && !op.floor) continue;
      auto* b = benchmark::RegisterBenchmark((std::string(op.name) + "/" + PathName(path)).c_str(),
                                             [fn = op.fn, path](benchmark::State& s) { fn(s, path); });
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
  {
    VkSide& fd = *g_sides[1];
    VkDeviceMemory m = fd.AllocateExportable(64 << 10);
    int probe = m != VK_NULL_HANDLE ? fd.Export(m) : -1;
    if (probe >= 0) {
      g_driver_fds_cloexec = (fcntl(probe, F_GETFD) & FD_CLOEXEC) != 0;
      close(probe);
    }
    if (m != VK_NULL_HANDLE) fd.Free(m);
    benchmark::AddCustomContext("driver_fds_cloexec", g_driver_fds_cloexec ? "yes" : "no");
  }
  Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_sides[0].reset();
  g_sides[1].reset();
  return 0;
}
