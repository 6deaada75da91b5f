// Issue 13 (NVIDIA GPU only): Vulkan -> CUDA handoffs over a timeline semaphore imported into CUDA through
// libntbridge_cuda (ntbridge::CudaExternalSemaphore, from an NT handle of the layer), against the same
// handoff on the fd extensions directly (vkGetSemaphoreFdKHR on a device without the layer, then
// cudaImportExternalSemaphore of the opaque fd). In one process; two timeline semaphores per path: v2c
// (Vulkan signals, CUDA waits) and c2v (CUDA signals, Vulkan waits).
//  - interleaved/cuda_handoff  per path, in turn, sample by sample:
//      one_way  CUDA has queued a wait on v2c >= v, a 4-byte cudaMemsetAsync and an event; all asleep, the
//               host calls vkQueueSubmit (a 4-byte fill, signal v2c = v); time from that call to the return
//               of cudaEventSynchronize: the Vulkan queue signal -> CUDA's waiting work ran
//      chain    queued before the clock starts: Vulkan submission k waits c2v >= base + k, fills 4 bytes,
//               signals v2c = base + k; CUDA waits v2c >= base + k, sets 4 bytes, signals c2v = base + k + 1;
//               the host signals c2v = base and waits for c2v = base + K: time over 2K + 1 handoffs (half
//               Vulkan -> CUDA, half CUDA -> Vulkan), no host call between
//    ratios ntbridge / fd within each pair of samples, median over the pairs.
//  - cuda_semaphore_import/{ntbridge,fd}  the import of a timeline semaphore's handle into CUDA and its
//    destruction: CudaExternalSemaphore::Import (which finds the CUDA device by UUID and checks the handle)
//    and Reset, against cudaImportExternalSemaphore + cudaDestroyExternalSemaphore; the application keeps
//    its handle (each import takes a duplicate).
// Without a CUDA device, or where the driver has no VK_KHR_external_semaphore_fd, it says so and exits 0.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ntbridge/cuda.hpp>
#include <ntbridge/vulkan.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench_sync.hpp"  // NowNs, Quantile
#include "cuda_bench.hpp"

namespace ntbridge::bench {
namespace {

constexpr uint64_t kTimeoutNs = 10'000'000'000;  // a wait this long means something hangs

double Median(std::vector<double> xs) { return Quantile(xs, 0.5); }  // (a copy: Quantile reorders)

int EnvInt(const char* name, int fallback) {
  const char* env = std::getenv(name);
  return env != nullptr ? std::max(1, std::atoi(env)) : fallback;
}

cudaStream_t g_stream = nullptr;
void* g_scratch = nullptr;  // 4 bytes of device memory, CUDA's work

// One path: the Vulkan side, its two semaphores, CUDA's imports of them, the next value (both below it).
struct Path {
  const char* name = "";
  SyncSide* side = nullptr;
  VkSemaphore v2c = VK_NULL_HANDLE, c2v = VK_NULL_HANDLE;
  // ntbridge: through the library; fd: CUDA's own imports.
  CudaExternalSemaphore lib_v2c, lib_c2v;
  cudaExternalSemaphore_t fd_v2c = nullptr, fd_c2v = nullptr;
  uint64_t next = 1;

  void CudaWait(uint64_t value) {
    if (side->side == Side::kWin32) return lib_v2c.Wait(g_stream, value);
    cudaExternalSemaphoreWaitParams params{};
    params.params.fence.value = value;
    CudaCheck(cudaWaitExternalSemaphoresAsync(&fd_v2c, &params, 1, g_stream),
              "cudaWaitExternalSemaphoresAsync");
  }
  void CudaSignal(uint64_t value) {
    if (side->side == Side::kWin32) return lib_c2v.Signal(g_stream, value);
    cudaExternalSemaphoreSignalParams params{};
    params.params.fence.value = value;
    CudaCheck(cudaSignalExternalSemaphoresAsync(&fd_c2v, &params, 1, g_stream),
              "cudaSignalExternalSemaphoresAsync");
  }
};
Path g_paths[2];  // ntbridge, fd

SyncInfo TimelineInfo(SyncSide& side) {
  SyncInfo info{};
  info.kind = NTBRIDGE_SYNC_TIMELINE_SEMAPHORE;
  info.handle_type = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  FillDeviceIds(vkGetInstanceProcAddr, side.instance, side.gpu, info);
  return info;
}

cudaExternalSemaphore_t ImportFd(int fd) {  // CUDA takes `fd` on success
  cudaExternalSemaphoreHandleDesc desc{};
  desc.type = cudaExternalSemaphoreHandleTypeTimelineSemaphoreFd;
  desc.handle.fd = fd;
  cudaExternalSemaphore_t e = nullptr;
  CudaCheck(cudaImportExternalSemaphore(&e, &desc), "cudaImportExternalSemaphore (opaque fd)");
  return e;
}

void SetUp(Path& p, const char* name, SyncSide* side) {
  p.name = name;
  p.side = side;
  VkResult r = VK_SUCCESS;
  p.v2c = side->Timeline(true, 0, &r);
  if (r == VK_SUCCESS) p.c2v = side->Timeline(true, 0, &r);
  if (r != VK_SUCCESS) Die(std::string(name) + ": cannot create exportable timeline semaphores");
  for (VkSemaphore s : {p.v2c, p.c2v}) {
    const int fd = side->ExportSemaphore(s, &r);
    if (fd < 0) Die(std::string(name) + ": cannot export a semaphore: VkResult " + std::to_string(r));
    const bool v2c = s == p.v2c;
    if (side->side == Side::kWin32) {
      (v2c ? p.lib_v2c : p.lib_c2v) =
          CudaExternalSemaphore::Import(TimelineInfo(*side), NtHandle::FromFd(fd));
    } else {
      (v2c ? p.fd_v2c : p.fd_c2v) = ImportFd(fd);
    }
  }
}

void TearDown(Path& p) {
  if (p.side == nullptr) return;
  p.lib_v2c.Reset();
  p.lib_c2v.Reset();
  if (p.fd_v2c != nullptr) cudaDestroyExternalSemaphore(p.fd_v2c);
  if (p.fd_c2v != nullptr) cudaDestroyExternalSemaphore(p.fd_c2v);
  p.side->DestroySemaphore(p.side->device, p.v2c, nullptr);
  p.side->DestroySemaphore(p.side->device, p.c2v, nullptr);
}

// One sample of the one-way handoff; ns.
double OneWay(Path& p, cudaEvent_t done) {
  const uint64_t v = p.next++;
  p.CudaWait(v);
  CudaCheck(cudaMemsetAsync(g_scratch, static_cast<int>(v & 0xff), 4, g_stream), "cudaMemsetAsync");
  CudaCheck(cudaEventRecord(done, g_stream), "cudaEventRecord");
  std::this_thread::sleep_for(std::chrono::microseconds(200));
  const int64_t t0 = NowNs();
  if (p.side->Submit(VK_NULL_HANDLE, 0, p.side->tiny, p.v2c, v, VK_NULL_HANDLE) != VK_SUCCESS) {
    Die(std::string(p.name) + ": vkQueueSubmit failed");
  }
  CudaCheck(cudaEventSynchronize(done), "cudaEventSynchronize");
  const int64_t t = NowNs() - t0;
  p.next = std::max(p.next, v + 1);
  return static_cast<double>(t);
}

// One chain of `count` round trips; ns per handoff.
double Chain(Path& p, int count) {
  const uint64_t base = p.next;
  for (int k = 0; k < count; ++k) {
    const uint64_t v = base + static_cast<uint64_t>(k);
    p.CudaWait(v);
    CudaCheck(cudaMemsetAsync(g_scratch, k & 0xff, 4, g_stream), "cudaMemsetAsync");
    p.CudaSignal(v + 1);
  }
  for (int k = 0; k < count; ++k) {
    const uint64_t v = base + static_cast<uint64_t>(k);
    if (p.side->Submit(p.c2v, v, p.side->tiny, p.v2c, v, VK_NULL_HANDLE) != VK_SUCCESS) {
      Die(std::string(p.name) + ": vkQueueSubmit failed");
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int64_t t0 = NowNs();
  VkResult r = p.side->Signal(p.c2v, base);
  if (r == VK_SUCCESS) r = p.side->Wait(p.c2v, base + static_cast<uint64_t>(count), kTimeoutNs);
  const int64_t t = NowNs() - t0;
  if (r != VK_SUCCESS) Die(std::string(p.name) + ": the chain did not end: VkResult " + std::to_string(r));
  CudaCheck(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
  p.next = base + static_cast<uint64_t>(count) + 1;
  return static_cast<double>(t) / (2.0 * count + 1);
}

void Handoff(benchmark::State& state) {
  const int samples = EnvInt("NTBRIDGE_BENCH_CUDA_SAMPLES", 200);
  const int count = EnvInt("NTBRIDGE_BENCH_CHAIN", 32), batches = EnvInt("NTBRIDGE_BENCH_CHAIN_BATCHES", 40);
  cudaEvent_t done;
  CudaCheck(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
  for (auto _ : state) {
    std::vector<double> one[2], chain[2];
    for (int k = -5; k < samples; ++k) {  // the first five: warm-up
      for (int i = 0; i < 2; ++i) {
        const double ns = OneWay(g_paths[i], done);
        if (k >= 0) one[i].push_back(ns);
      }
    }
    for (int b = -1; b < batches; ++b) {
      for (int i = 0; i < 2; ++i) {
        const double ns = Chain(g_paths[i], count);
        if (b >= 0) chain[i].push_back(ns);
      }
    }
    auto paired = [](const std::vector<double>& a, const std::vector<double>& b) {
      std::vector<double> r;
      for (size_t k = 0; k < a.size() && k < b.size(); ++k) r.push_back(a[k] / b[k]);
      return Median(r);
    };
    state.SetIterationTime(Median(one[0]) * 1e-9);
    state.counters["one_way_ntbridge_over_fd"] = paired(one[0], one[1]);
    state.counters["chain_ntbridge_over_fd"] = paired(chain[0], chain[1]);
    for (int i = 0; i < 2; ++i) {
      const std::string n = g_paths[i].name;
      state.counters["one_way_" + n + "_us"] = Median(one[i]) * 1e-3;
      state.counters["chain_" + n + "_us"] = Median(chain[i]) * 1e-3;
    }
    state.counters["samples"] = samples;
    state.counters["chain"] = count;
  }
  cudaEventDestroy(done);
}

void Import(benchmark::State& state, int which) {
  SyncSide& side = *g_paths[which].side;
  VkResult r = VK_SUCCESS;
  VkSemaphore s = side.Timeline(true, 0, &r);
  const int fd = r == VK_SUCCESS ? side.ExportSemaphore(s, &r) : -1;
  if (fd < 0) Die("cuda_semaphore_import: cannot export a semaphore: VkResult " + std::to_string(r));
  NtHandle handle = NtHandle::FromFd(fd);
  const SyncInfo info = TimelineInfo(side);
  for (auto _ : state) {
    if (which == 0) {
      CudaExternalSemaphore imported = CudaExternalSemaphore::Import(info, handle.Duplicate());
      imported.Reset();
    } else {
      cudaExternalSemaphore_t e = ImportFd(dup(handle.fd()));
      CudaCheck(cudaDestroyExternalSemaphore(e), "cudaDestroyExternalSemaphore");
    }
  }
  handle.Reset();
  side.DestroySemaphore(side.device, s, nullptr);
}

}  // namespace
}  // namespace ntbridge::bench

int main(int argc, char** argv) {
  using namespace ntbridge::bench;
  PrepareProcess();
  benchmark::Initialize(&argc, argv);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("ntbridge_bench_cuda_sync: no CUDA device (%s): skipping the CUDA handoff benchmarks\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return 0;
  }
  auto win32 = std::make_unique<SyncSide>(Side::kWin32);
  auto fd = std::make_unique<SyncSide>(Side::kFd);
  if (!fd->exports_semaphores) {
    std::printf("ntbridge_bench_cuda_sync: %s: skipping the CUDA handoff benchmarks\n",
                fd->why_not_semaphores.c_str());
    return 0;
  }
  cudaDeviceProp prop{};
  try {
    const int device = ntbridge::FindCudaDevice(TimelineInfo(*win32).device_uuid);
    CudaCheck(cudaSetDevice(device), "cudaSetDevice");
    CudaCheck(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    CudaCheck(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking), "cudaStreamCreate");
    CudaCheck(cudaMalloc(&g_scratch, 4), "cudaMalloc");
    SetUp(g_paths[0], "ntbridge", win32.get());
    SetUp(g_paths[1], "fd", fd.get());
  } catch (const std::exception& ex) {
    Die(std::string("setup: ") + ex.what());
  }
  AddCudaContext(prop, win32->device_name, win32->driver_info);

  benchmark::RegisterBenchmark("interleaved/cuda_handoff", Handoff)->UseManualTime()->Iterations(1);
  benchmark::RegisterBenchmark("cuda_semaphore_import/ntbridge", [](benchmark::State& s) { Import(s, 0); })
      ->UseRealTime()
      ->MinTime(0.1);
  benchmark::RegisterBenchmark("cuda_semaphore_import/fd", [](benchmark::State& s) { Import(s, 1); })
      ->UseRealTime()
      ->MinTime(0.1);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (Path& p : g_paths) TearDown(p);
  cudaFree(g_scratch);
  cudaStreamDestroy(g_stream);
  return 0;
}
