// ntbridge_bench_sync, the operations of one process (issue 12's scale target, issue 13's export / import /
// free of semaphores and fences). Each benchmark has a twin with "/fd" in place of "/win32": the layer's
// Win32 path against the driver's own OPAQUE_FD path (skipped, saying why, where the driver has none).
//  - scale_signal_wait/SIDE/N        vkSignalSemaphore + vkWaitSemaphores (already satisfied) on one
//                                    exportable timeline semaphore while N - 1 others are alive
//  - scale_queue_signal_wait/SIDE/N  a vkQueueSubmit signalling it, then vkWaitSemaphores for that value
//    (SIDE "driver": plain semaphores of the fd side's device, the driver with no layer and no export)
//  - {semaphore,fence}_cycle          create exportable -> get handle -> create + import (the application
//                                    keeps its handle) -> close handle -> destroy both
//  - {semaphore,fence}_create_exportable_destroy
//  - {semaphore,fence}_create_destroy  a plain object (not exportable): runs on every driver, the layer
//                                    records it (a later import may find it)
//  - {semaphore,fence}_get_handle     vkGet*Win32HandleKHR / vkGet*FdKHR (+ close) on fresh objects made
//                                    outside the timed region (an NT handle may be fetched once per object);
//                                    the time is per handle
//  - {semaphore,fence}_get_handle/floor  the fd side's vkGet*FdKHR plus the system calls an NT handle of a
//                                    driver payload needs beside it: fcntl(F_GETFD) (is it close-on-exec?)
//                                    and fcntl(F_DUPFD_CLOEXEC), the duplicate the layer keeps to trace the
//                                    handle to its exporter (issue 15); closed with the object, untimed
//  - {semaphore,fence}_import_destroy create a plain object, import a handle the application keeps, destroy
//  - semaphore_import_name_destroy/win32  the same by VkImportSemaphoreWin32HandleInfoKHR::name (the broker)
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "bench_sync.hpp"

namespace ntbridge::bench {
namespace {

SyncSide* g_win32 = nullptr;
SyncSide* g_fd = nullptr;

// "win32", "fd", or "driver" (the fd side's device with plain, not exportable, semaphores).
enum class Path { kWin32, kFd, kDriver };
const char* PathName(Path p) { return p == Path::kWin32 ? "win32" : p == Path::kFd ? "fd" : "driver"; }
SyncSide& Of(Path p) { return p == Path::kWin32 ? *g_win32 : *g_fd; }

bool Check(benchmark::State& state, VkResult r, const char* what) {
  if (r == VK_SUCCESS) return true;
  state.SkipWithError((std::string(what) + " failed: VkResult " + std::to_string(r)).c_str());
  return false;
}

// --- scale ---

// The other live semaphores of each path, kept between benchmarks (random interleaving moves between N).
std::vector<VkSemaphore> g_live[3];
VkSemaphore g_measured[3] = {};
uint64_t g_value[3] = {};

// Brings the live set of `path` to `n` semaphores; false (with the count reached) when the driver or the
// descriptor limit refuses more.
bool Resize(Path path, size_t n, std::string* why) {
  SyncSide& side = Of(path);
  auto& live = g_live[static_cast<int>(path)];
  while (live.size() > n) {
    side.DestroySemaphore(side.device, live.back(), nullptr);
    live.pop_back();
  }
  while (live.size() < n) {
    VkResult r = VK_SUCCESS;
    VkSemaphore s = side.Timeline(path != Path::kDriver, 0, &r);
    if (r != VK_SUCCESS) {
      *why = "only " + std::to_string(live.size()) + " live semaphores: creation failed with VkResult " +
             std::to_string(r) + " (descriptor limit " + std::to_string(RaiseFdLimit(0)) + ")";
      return false;
    }
    live.push_back(s);
  }
  return true;
}

void Scale(benchmark::State& state, Path path, bool queue) {
  SyncSide& side = Of(path);
  if (path == Path::kFd && SkipUnless(state, side.exports_semaphores, side.why_not_semaphores)) return;
  const int p = static_cast<int>(path);
  std::string why;
  if (!Resize(path, static_cast<size_t>(state.range(0)) - 1, &why)) {
    SkipUnless(state, false, why);
    return;
  }
  if (g_measured[p] == VK_NULL_HANDLE) {
    VkResult r = VK_SUCCESS;
    g_measured[p] = side.Timeline(path != Path::kDriver, 0, &r);
    if (!Check(state, r, "create")) return;
  }
  const VkSemaphore s = g_measured[p];
  uint64_t& v = g_value[p];
  for (auto _ : state) {
    ++v;
    VkResult r =
        queue ? side.Submit(VK_NULL_HANDLE, 0, VK_NULL_HANDLE, s, v, VK_NULL_HANDLE) : side.Signal(s, v);
    if (!Check(state, r, queue ? "vkQueueSubmit" : "vkSignalSemaphore")) break;
    if (!Check(state, side.Wait(s, v, 10'000'000'000), "vkWaitSemaphores")) break;
  }
  state.counters["live_semaphores"] = static_cast<double>(g_live[p].size() + 1);
}

// --- export / import / free ---

VkSemaphore Make(SyncSide& s, VkSemaphore*, bool exportable, VkResult* r) {
  return s.Timeline(exportable, 0, r);
}
VkFence Make(SyncSide& s, VkFence*, bool exportable, VkResult* r) { return s.Fence(exportable, r); }
void Destroy(SyncSide& s, VkSemaphore o) { s.DestroySemaphore(s.device, o, nullptr); }
void Destroy(SyncSide& s, VkFence o) { s.DestroyFence(s.device, o, nullptr); }
int Export(SyncSide& s, VkSemaphore o, VkResult* r) { return s.ExportSemaphore(o, r); }
int Export(SyncSide& s, VkFence o, VkResult* r) { return s.ExportFence(o, r); }
VkResult ImportKeep(SyncSide& s, VkSemaphore o, int fd) { return s.ImportSemaphoreKeep(o, fd); }
VkResult ImportKeep(SyncSide& s, VkFence o, int fd) { return s.ImportFenceKeep(o, fd); }

template <typename T>
bool Skip(benchmark::State& state, SyncSide& side) {
  constexpr bool semaphore = std::is_same_v<T, VkSemaphore>;
  return SkipUnless(state, semaphore ? side.exports_semaphores : side.exports_fences,
                    semaphore ? side.why_not_semaphores : side.why_not_fences);
}

template <typename T>
void Cycle(benchmark::State& state, Path path) {
  SyncSide& side = Of(path);
  if (Skip<T>(state, side)) return;
  VkResult r = VK_SUCCESS;
  for (auto _ : state) {
    T exported = Make(side, static_cast<T*>(nullptr), true, &r);
    if (!Check(state, r, "create exportable")) break;
    int fd = Export(side, exported, &r);
    if (!Check(state, r, "get handle")) break;
    T imported = Make(side, static_cast<T*>(nullptr), false, &r);
    if (!Check(state, r, "create")) break;
    if (!Check(state, ImportKeep(side, imported, fd), "import")) break;
    close(fd);  // CloseHandle
    Destroy(side, imported);
    Destroy(side, exported);
  }
}

template <typename T, bool kExportable>
void CreateDestroy(benchmark::State& state, Path path) {
  SyncSide& side = Of(path);
  if (kExportable && Skip<T>(state, side)) return;
  VkResult r = VK_SUCCESS;
  for (auto _ : state) {
    T o = Make(side, static_cast<T*>(nullptr), kExportable, &r);
    if (!Check(state, r, "create")) break;
    Destroy(side, o);
  }
}

constexpr int kBatch = 64;

// `floor`: the fd side plus what the Win32 semantics add on a driver payload (the header above), the floor of
// the layer's get-handle there, measured in the same run.
template <typename T>
void GetHandles(benchmark::State& state, Path path, bool floor) {
  SyncSide& side = Of(path);
  if (Skip<T>(state, side)) return;
  VkResult r = VK_SUCCESS;
  T objects[kBatch];
  int fds[kBatch];
  int kept[kBatch];
  for (auto _ : state) {
    for (T& o : objects) {
      o = Make(side, static_cast<T*>(nullptr), true, &r);
      if (!Check(state, r, "create exportable")) return;
    }
    const int64_t t0 = NowNs();
    for (int i = 0; i < kBatch; ++i) {
      fds[i] = Export(side, objects[i], &r);
      kept[i] = -1;
      if (floor) {
        const int flags = fcntl(fds[i], F_GETFD);
        if (flags >= 0 && (flags & FD_CLOEXEC) == 0) fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        kept[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
      }
    }
    state.SetIterationTime(static_cast<double>(NowNs() - t0) * 1e-9 / kBatch);
    for (int i = 0; i < kBatch; ++i) {
      if (fds[i] < 0) {
        state.SkipWithError("get handle failed");
      } else {
        close(fds[i]);
      }
      if (kept[i] >= 0) close(kept[i]);
      Destroy(side, objects[i]);
    }
  }
}

template <typename T>
void GetHandle(benchmark::State& state, Path path) {
  GetHandles<T>(state, path, false);
}

template <typename T>
void ImportDestroy(benchmark::State& state, Path path) {
  SyncSide& side = Of(path);
  if (Skip<T>(state, side)) return;
  VkResult r = VK_SUCCESS;
  T exported = Make(side, static_cast<T*>(nullptr), true, &r);
  if (!Check(state, r, "create exportable")) return;
  int fd = Export(side, exported, &r);
  if (Check(state, r, "get handle")) {
    for (auto _ : state) {
      T imported = Make(side, static_cast<T*>(nullptr), false, &r);
      if (!Check(state, r, "create")) break;
      if (!Check(state, ImportKeep(side, imported, fd), "import")) break;
      Destroy(side, imported);
    }
    close(fd);
  }
  Destroy(side, exported);
}

void ImportNameDestroy(benchmark::State& state) {
  SyncSide& side = *g_win32;
  const std::wstring name = L"Local\\ntbridge-bench-sync-" + std::to_wstring(getpid());
  VkResult r = VK_SUCCESS;
  VkSemaphore exported = side.Timeline(true, 0, &r, name.c_str());
  if (r != VK_SUCCESS) {
    SkipUnless(state, false,
               "the named export failed (VkResult " + std::to_string(r) +
                   "): is the ntbridged broker built and startable?");
    return;
  }
  for (auto _ : state) {
    VkSemaphore imported = side.Timeline(false, 0, &r);
    if (!Check(state, r, "create")) break;
    if (!Check(state, side.ImportSemaphoreName(imported, name.c_str()), "import by name")) break;
    side.DestroySemaphore(side.device, imported, nullptr);
  }
  side.DestroySemaphore(side.device, exported, nullptr);
}

}  // namespace

void RegisterOpsBenchmarks(SyncSide* win32, SyncSide* fd) {
  g_win32 = win32;
  g_fd = fd;
  for (bool queue : {false, true}) {
    for (Path path : {Path::kWin32, Path::kFd, Path::kDriver}) {
      std::string name =
          std::string(queue ? "scale_queue_signal_wait/" : "scale_signal_wait/") + PathName(path);
      auto* b = benchmark::RegisterBenchmark(name.c_str(),
                                             [path, queue](benchmark::State& s) { Scale(s, path, queue); });
      b->Arg(1)->Arg(1000)->Arg(10000)->UseRealTime()->MinTime(queue ? 0.2 : 0.1);
    }
  }
  struct Op {
    const char* name;
    void (*semaphore)(benchmark::State&, Path);
    void (*fence)(benchmark::State&, Path);
  };
  const Op ops[] = {
      {"cycle", Cycle<VkSemaphore>, Cycle<VkFence>},
      {"create_exportable_destroy", CreateDestroy<VkSemaphore, true>, CreateDestroy<VkFence, true>},
      {"create_destroy", CreateDestroy<VkSemaphore, false>, CreateDestroy<VkFence, false>},
      {"get_handle", GetHandle<VkSemaphore>, GetHandle<VkFence>},
      {"import_destroy", ImportDestroy<VkSemaphore>, ImportDestroy<VkFence>}};
  for (const Op& op : ops) {
    for (bool semaphore : {true, false}) {
      for (Path path : {Path::kWin32, Path::kFd}) {
        auto fn = semaphore ? op.semaphore : op.fence;
        std::string name = std::string(semaphore ? "semaphore_" : "fence_") + op.name + "/" + PathName(path);
        auto* b =
            benchmark::RegisterBenchmark(name.c_str(), [fn, path](benchmark::State& s) { fn(s, path); });
        if (op.semaphore == GetHandle<VkSemaphore>) {
          // 20 x 64 handles a repetition: each object is also created and destroyed outside the timing,
          // which takes about 1.5 ms on NVIDIA, so 100 x 64 made a repetition last 10 s there and 10 of
          // them did not fit a run (docs/performance.md, "On the NVIDIA machine").
          b->UseManualTime()->Iterations(20);
        } else {
          b->UseRealTime()->MinTime(0.1);
        }
      }
    }
  }
  benchmark::RegisterBenchmark("semaphore_get_handle/floor",
                               [](benchmark::State& s) { GetHandles<VkSemaphore>(s, Path::kFd, true); })
      ->UseManualTime()
      ->Iterations(20);
  benchmark::RegisterBenchmark("fence_get_handle/floor",
                               [](benchmark::State& s) { GetHandles<VkFence>(s, Path::kFd, true); })
      ->UseManualTime()
      ->Iterations(20);
  benchmark::RegisterBenchmark("semaphore_import_name_destroy/win32", ImportNameDestroy)
      ->UseRealTime()
      ->MinTime(0.1);
}

void TearDownOpsBenchmarks() {
  for (Path path : {Path::kWin32, Path::kFd, Path::kDriver}) {
    const int p = static_cast<int>(path);
    std::string ignored;
    if (!g_live[p].empty()) Resize(path, 0, &ignored);
    if (g_measured[p] != VK_NULL_HANDLE) Of(path).DestroySemaphore(Of(path).device, g_measured[p], nullptr);
    g_measured[p] = VK_NULL_HANDLE;
  }
}

}  // namespace ntbridge::bench
