// Issue 6, part 4 (NVIDIA GPU only): CUDA on memory that came from an ntbridge NT handle.
//  - cuda_read_bandwidth/{cudaMalloc,ntbridge}: a read-only reduction over memory from cudaMalloc versus
//    Vulkan memory exported through the layer (vkGetMemoryWin32HandleKHR) and imported with
//    cudaImportExternalMemory.
//  - cuda_open/{cuda_ipc,ntbridge_handoff,ntbridge_in_process}: opening memory of another process:
//    cudaIpcOpenMemHandle (+ close) versus receiving an NT handle over SCM_RIGHTS and importing it into CUDA
//    (+ free); and the import alone, in the exporting process.
// Without a CUDA device it says so and exits 0.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_vk.hpp"
#include "cuda_bench.hpp"
#include "read_kernel.hpp"

namespace ntbridge::bench {
namespace {

constexpr int kThreads = 512;

// --- helper processes (started with exec, so they get their own driver state) ---

// --ipc-exporter <socket> <bytes>: cudaMalloc + cudaIpcGetMemHandle, sends the handle, waits for EOF.
int IpcExporterMain(int s, size_t bytes) {
  void* p = nullptr;
  CudaCheck(cudaMalloc(&p, bytes), "exporter cudaMalloc");
  cudaIpcMemHandle_t h;
  CudaCheck(cudaIpcGetMemHandle(&h, p), "cudaIpcGetMemHandle");
  WriteAll(s, &h, sizeof h);
  char c;
  while (read(s, &c, 1) > 0) {
  }
  cudaFree(p);
  return 0;
}

// --vk-exporter <socket> <bytes>: Vulkan memory exported through the layer as an NT handle; sends a copy of
// the handle (SCM_RIGHTS) for every byte it reads.
int VkExporterMain(int s, size_t bytes) {
  VkSide vk(Side::kWin32);
  VkResult r;
  VkDeviceMemory m = vk.AllocateExportable(bytes, &r);
  if (r != VK_SUCCESS) Die("vk exporter: allocation failed " + std::to_string(r));
  int handle = vk.Export(m, &r);
  if (handle < 0) Die("vk exporter: vkGetMemoryWin32HandleKHR failed " + std::to_string(r));
  char c;
  while (read(s, &c, 1) == 1) SendFd(s, handle, &c, 1);
  close(handle);
  vk.Free(m);
  return 0;
}

struct Helper {
  int socket = -1;
  pid_t pid = -1;
};

Helper StartHelper(const char* mode, size_t bytes) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) Die("socketpair");
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    std::string exe = SelfExe(), a = std::to_string(sv[1]), b = std::to_string(bytes);
    execl(exe.c_str(), exe.c_str(), mode, a.c_str(), b.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(sv[1]);
  fcntl(sv[0], F_SETFD, FD_CLOEXEC);  // later helpers must not inherit it
  return {sv[0], pid};
}

void StopHelper(Helper& h) {
  if (h.socket < 0) return;
  shutdown(h.socket, SHUT_WR);
  close(h.socket);
  waitpid(h.pid, nullptr, 0);
  h.socket = -1;
}

// --- the benchmark process ---

std::unique_ptr<VkSide> g_vk;
int g_blocks = 0;
unsigned int* g_out = nullptr;

// Imports an fd (consumed on success) of `bytes` into CUDA; returns the device pointer.
void* ImportFd(int fd, size_t bytes, cudaExternalMemory_t* ext, cudaError_t* err) {
  cudaExternalMemoryHandleDesc desc{};
  desc.type = cudaExternalMemoryHandleTypeOpaqueFd;
  desc.handle.fd = fd;
  desc.size = bytes;
  *err = cudaImportExternalMemory(ext, &desc);
  if (*err != cudaSuccess) return nullptr;
  cudaExternalMemoryBufferDesc buf{};
  buf.size = bytes;
  void* p = nullptr;
  *err = cudaExternalMemoryGetMappedBuffer(&p, *ext, &buf);
  if (*err != cudaSuccess) {
    cudaDestroyExternalMemory(*ext);
    return nullptr;
  }
  return p;
}

// Memory for the bandwidth benchmark, one per kind and size, kept for the whole run.
void* Buffer(bool ntbridge, size_t bytes) {
  static std::map<std::pair<bool, size_t>, void*> cache;
  auto key = std::make_pair(ntbridge, bytes);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  void* p = nullptr;
  if (!ntbridge) {
    CudaCheck(cudaMalloc(&p, bytes), "cudaMalloc");
  } else {
    VkResult r;
    VkDeviceMemory m = g_vk->AllocateExportable(bytes, &r);
    if (r != VK_SUCCESS) Die("vkAllocateMemory (exportable) failed: " + std::to_string(r));
    int handle = g_vk->Export(m, &r);
    if (handle < 0) Die("vkGetMemoryWin32HandleKHR failed: " + std::to_string(r));
    cudaExternalMemory_t ext;
    cudaError_t e;
    p = ImportFd(dup(handle), bytes, &ext, &e);
    CudaCheck(e, "cudaImportExternalMemory of an ntbridge NT handle");
    close(handle);  // CUDA holds its own reference now; the Vulkan memory stays allocated for the run
  }
  // Random contents, the same for both kinds: a constant fill is compressible, and NVIDIA may compress Vulkan
  // allocations but not cudaMalloc memory, which made the imported memory read faster than HBM allows.
  std::vector<uint64_t> host(bytes / sizeof(uint64_t));
  std::mt19937_64 random(bytes);
  for (uint64_t& word : host) word = random();
  CudaCheck(cudaMemcpy(p, host.data(), host.size() * sizeof(uint64_t), cudaMemcpyHostToDevice), "cudaMemcpy");
  CudaCheck(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  cache[key] = p;
  return p;
}

void ReadBandwidth(benchmark::State& state, bool ntbridge) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  void* p = Buffer(ntbridge, bytes);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  CudaCheck(LaunchReadReduce(p, bytes, g_out, g_blocks, kThreads, nullptr), "warm-up launch");
  for (auto _ : state) {
    cudaEventRecord(start);
    LaunchReadReduce(p, bytes, g_out, g_blocks, kThreads, nullptr);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

enum class Open { kCudaIpc, kNtbridgeHandoff, kNtbridgeInProcess };

// Helper processes live for the whole run (Google Benchmark calls a benchmark several times while it picks
// the iteration count; a CUDA context per call would dominate the run time).
std::map<std::pair<int, size_t>, Helper> g_helpers;
std::map<size_t, cudaIpcMemHandle_t> g_ipc_handles;

Helper& HelperFor(Open kind, size_t bytes) {
  auto key = std::make_pair(static_cast<int>(kind), bytes);
  if (auto it = g_helpers.find(key); it != g_helpers.end()) return it->second;
  Helper h = StartHelper(kind == Open::kCudaIpc ? "--ipc-exporter" : "--vk-exporter", bytes);
  if (kind == Open::kCudaIpc && !ReadAll(h.socket, &g_ipc_handles[bytes], sizeof(cudaIpcMemHandle_t))) {
    Die("the IPC exporter failed");
  }
  return g_helpers[key] = h;
}

void OpenBench(benchmark::State& state, Open kind) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  Helper helper;
  cudaIpcMemHandle_t ipc{};
  int local_handle = -1;
  VkDeviceMemory local_memory = VK_NULL_HANDLE;
  if (kind == Open::kNtbridgeInProcess) {
    VkResult r;
    local_memory = g_vk->AllocateExportable(bytes, &r);
    local_handle = local_memory != VK_NULL_HANDLE ? g_vk->Export(local_memory, &r) : -1;
    if (local_handle < 0) Die("vkGetMemoryWin32HandleKHR failed: " + std::to_string(r));
  } else {
    helper = HelperFor(kind, bytes);
    if (kind == Open::kCudaIpc) ipc = g_ipc_handles[bytes];
  }
  for (auto _ : state) {
    void* p = nullptr;
    cudaError_t e = cudaSuccess;
    if (kind == Open::kCudaIpc) {
      e = cudaIpcOpenMemHandle(&p, ipc, cudaIpcMemLazyEnablePeerAccess);
      if (e == cudaSuccess) e = cudaIpcCloseMemHandle(p);
    } else {
      int fd = -1;
      if (kind == Open::kNtbridgeHandoff) {
        char c = 'F', ack;
        if (!WriteAll(helper.socket, &c, 1) || !ReceiveFd(helper.socket, &fd, &ack, 1) || fd < 0) {
          state.SkipWithError("the Vulkan exporter sent no handle");
          break;
        }
      } else {
        fd = dup(local_handle);  // the application keeps its NT handle; CUDA consumes what it is given
      }
      cudaExternalMemory_t ext;
      p = ImportFd(fd, bytes, &ext, &e);
      if (e == cudaSuccess) {
        cudaFree(p);
        e = cudaDestroyExternalMemory(ext);
      } else {
        close(fd);
      }
    }
    if (e != cudaSuccess) {
      state.SkipWithError(cudaGetErrorString(e));
      break;
    }
  }
  if (local_handle >= 0) close(local_handle);
  if (local_memory != VK_NULL_HANDLE) g_vk->Free(local_memory);
}

}  // namespace
}  // namespace ntbridge::bench

int main(int argc, char** argv) {
  using namespace ntbridge::bench;
  PrepareProcess();
  if (argc == 4 && std::strcmp(argv[1], "--ipc-exporter") == 0) {
    return IpcExporterMain(std::atoi(argv[2]), std::strtoull(argv[3], nullptr, 10));
  }
  if (argc == 4 && std::strcmp(argv[1], "--vk-exporter") == 0) {
    return VkExporterMain(std::atoi(argv[2]), std::strtoull(argv[3], nullptr, 10));
  }
  benchmark::Initialize(&argc, argv);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("ntbridge_bench_cuda: no CUDA device (%s): skipping the CUDA benchmarks\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return 0;
  }
  cudaDeviceProp prop{};
  CudaCheck(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  CudaCheck(cudaSetDevice(0), "cudaSetDevice");
  g_vk = std::make_unique<VkSide>(Side::kWin32);
  if (std::memcmp(g_vk->device_uuid, prop.uuid.bytes, VK_UUID_SIZE) != 0) {
    Die("the Vulkan device (" + g_vk->device_name + ") is not CUDA device 0 (" + prop.name +
        "): set NTBRIDGE_BENCH_DEVICE to its name");
  }
  g_blocks = prop.multiProcessorCount * 8;
  CudaCheck(cudaMalloc(reinterpret_cast<void**>(&ntbridge::bench::g_out), sizeof(unsigned) * g_blocks),
            "cudaMalloc");
  AddCudaContext(prop, g_vk->device_name, g_vk->driver_info);

  for (bool ntbridge : {true, false}) {
    benchmark::RegisterBenchmark(ntbridge ? "cuda_read_bandwidth/ntbridge" : "cuda_read_bandwidth/cudaMalloc",
                                 [ntbridge](benchmark::State& s) { ReadBandwidth(s, ntbridge); })
        ->Arg(int64_t{256} << 20)
        ->Arg(int64_t{1} << 30)
        ->UseManualTime()
        ->MinTime(0.2);
  }
  const std::pair<Open, const char*> opens[] = {{Open::kCudaIpc, "cuda_open/cuda_ipc"},
                                                {Open::kNtbridgeHandoff, "cuda_open/ntbridge_handoff"},
                                                {Open::kNtbridgeInProcess, "cuda_open/ntbridge_in_process"}};
  for (const auto& [kind, name] : opens) {
    benchmark::RegisterBenchmark(name, [kind = kind](benchmark::State& s) { OpenBench(s, kind); })
        ->Arg(int64_t{1} << 20)
        ->Arg(int64_t{256} << 20)
        ->UseRealTime()
        ->MinTime(0.2);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (auto& [key, helper] : g_helpers) StopHelper(helper);
  g_vk.reset();
  return 0;
}
