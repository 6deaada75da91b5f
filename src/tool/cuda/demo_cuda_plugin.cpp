// The demo's CUDA consumer (demo_cuda_plugin.h): the ring and both semaphores imported through
// libntbridge_cuda, each frame checked on one CUDA stream with no host wait, the checksums collected from
// pinned memory behind one event per slot.
#include "demo_cuda_plugin.h"

#include <cuda_runtime_api.h>
#include <sched.h>
#include <time.h>

#include <ntbridge/handle.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <ntbridge/cuda.hpp>
#include <string>
#include <utility>
#include <vector>

#include "frame_check_kernel.hpp"

namespace {

using ntbridge::CudaExternalMemory;
using ntbridge::CudaExternalSemaphore;
using ntbridge::CudaImportError;
using ntbridge::NtHandle;
using ntbridge::tool::LaunchFrameCheck;

constexpr uint32_t kOpaqueWin32 = 0x2;  // VK_EXTERNAL_{MEMORY,SEMAPHORE}_HANDLE_TYPE_OPAQUE_WIN32_BIT

void Check(cudaError_t error, const char* what) {
  if (error != cudaSuccess) {
    throw CudaImportError(std::string(what) + " failed: " + cudaGetErrorName(error) + " (" +
                          cudaGetErrorString(error) + ")");
  }
}

// A duplicate of the caller's NT handle `fd`, for an import that keeps its own.
NtHandle Duplicate(int fd, const char* what) {
  HANDLE copy = nullptr;
  if (fd < 0 || !ntbridge_DuplicateHandle(ntbridge_FdToHandle(fd), &copy, FALSE)) {
    throw CudaImportError(std::string("no NT handle of ") + what + " to import (descriptor " +
                          std::to_string(fd) + ")");
  }
  return NtHandle(copy);
}

void Write(const std::string& text, char* error, size_t error_size) {
  if (error != nullptr && error_size > 0) std::snprintf(error, error_size, "%s", text.c_str());
}

}  // namespace

struct ntbridge_demo_cuda_checker {
  explicit ntbridge_demo_cuda_checker(const ntbridge_demo_cuda_ring& ring);
  ~ntbridge_demo_cuda_checker();
  void Submit(uint32_t frame);
  bool Collect(uint32_t frame, uint32_t wait_us, uint64_t* checksum);

 private:
  void Create();
  bool DrainAfterError();
  void FreeCuda();

 public:
  CudaExternalMemory memory;
  CudaExternalSemaphore ready_semaphore;
  CudaExternalSemaphore free_semaphore;
  uint32_t ring = 0;
  uint64_t slot_size = 0;
  uint32_t frames = 0;
  int blocks = 1;
  std::string name;
  cudaStream_t stream = nullptr;
  uint32_t* sums = nullptr;       // device memory: low and high sum of each slot
  uint32_t* host_sums = nullptr;  // pinned: where each slot's sums are copied
  std::vector<cudaEvent_t> done;  // per slot: recorded after the copy
  uint64_t submitted = 0;         // frames queued
  uint64_t collected = 0;         // frames whose checksum was taken
};

ntbridge_demo_cuda_checker::ntbridge_demo_cuda_checker(const ntbridge_demo_cuda_ring& r)
    : ring(r.ring), slot_size(r.slot_size), frames(r.frames) {
  if (r.ring == 0 || r.slot_size == 0 || r.slot_size % 4 != 0 || r.slot_size / 4 > UINT32_MAX ||
      r.slot_size > r.memory.allocation_size / r.ring) {
    throw CudaImportError("a ring of " + std::to_string(r.ring) + " slots of " + std::to_string(r.slot_size) +
                          " bytes does not fit the shared allocation of " +
                          std::to_string(r.memory.allocation_size) + " bytes");
  }
  if (r.memory.handle_type != kOpaqueWin32) throw CudaImportError("the memory must come as an NT handle");
  memory = CudaExternalMemory::Import(r.memory, Duplicate(r.memory_handle, "the shared memory"));
  const int device = memory.device();
  Check(cudaSetDevice(device), "cudaSetDevice");
  ntbridge_sync_info semaphore{};
  semaphore.kind = NTBRIDGE_SYNC_TIMELINE_SEMAPHORE;
  semaphore.handle_type = kOpaqueWin32;
  std::memcpy(semaphore.device_uuid, r.memory.device_uuid, sizeof semaphore.device_uuid);
  std::memcpy(semaphore.driver_uuid, r.memory.driver_uuid, sizeof semaphore.driver_uuid);
  ready_semaphore =
      CudaExternalSemaphore::Import(semaphore, Duplicate(r.ready_handle, "the 'ready' semaphore"));
  free_semaphore = CudaExternalSemaphore::Import(semaphore, Duplicate(r.free_handle, "the 'free' semaphore"));
  try {
    Create();
  } catch (...) {
    FreeCuda();  // a constructor that throws gets no destructor call; the imports are members
    throw;
  }
}

void ntbridge_demo_cuda_checker::Create() {
  const int device = memory.device();
  cudaDeviceProp properties{};
  Check(cudaGetDeviceProperties(&properties, device), "cudaGetDeviceProperties");
  name = std::string(properties.name) + " (CUDA device " + std::to_string(device) + ")";
  // Enough blocks to fill the GPU, no more than the frame has words for.
  const uint64_t words = slot_size / 4;
  const uint64_t needed =
      (words + ntbridge::tool::kFrameCheckThreads - 1) / ntbridge::tool::kFrameCheckThreads;
  blocks = static_cast<int>(std::min<uint64_t>(needed, uint64_t{8} * properties.multiProcessorCount));
  if (blocks < 1) blocks = 1;

  Check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  Check(cudaMalloc(reinterpret_cast<void**>(&sums), sizeof(uint32_t) * 2 * ring), "cudaMalloc (sums)");
  Check(cudaMallocHost(reinterpret_cast<void**>(&host_sums), sizeof(uint32_t) * 2 * ring),
        "cudaMallocHost (sums)");
  done.reserve(ring);
  for (uint32_t slot = 0; slot < ring; ++slot) {
    cudaEvent_t event = nullptr;
    Check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    done.push_back(event);
  }
}

ntbridge_demo_cuda_checker::~ntbridge_demo_cuda_checker() {
  if (stream != nullptr && submitted > collected && !DrainAfterError()) {
    // Destroying what the stream still uses would be worse than leaving it: the process is about to exit with
    // the error. The imports move to objects never freed.
    std::fprintf(stderr, "ntbridge demo (CUDA consumer): the stream is still busy after 10 s; left as is\n");
    static_cast<void>(new CudaExternalMemory(std::move(memory)));
    static_cast<void>(new CudaExternalSemaphore(std::move(ready_semaphore)));
    static_cast<void>(new CudaExternalSemaphore(std::move(free_semaphore)));
    return;
  }
  if (stream != nullptr) cudaStreamSynchronize(stream);
  FreeCuda();
  // Then the imports, members destroyed in reverse order: the semaphores (nothing outstanding on them now),
  // then the memory.
}

// Frames in flight: an error path, and the producer may be gone. Releases the stream's waits on `ready` with
// a signal past the last frame, queued on a stream of its own, and gives the work 10 s. True when it
// finished.
bool ntbridge_demo_cuda_checker::DrainAfterError() {
  cudaStream_t release = nullptr;
  if (cudaStreamCreateWithFlags(&release, cudaStreamNonBlocking) == cudaSuccess) {
    try {
      ready_semaphore.Signal(release, frames + 1ull);
    } catch (const std::exception&) {
      // Nothing more can be done; the wait below says whether the stream finished anyway.
    }
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (cudaStreamQuery(stream) == cudaErrorNotReady && std::chrono::steady_clock::now() < give_up) {
    const timespec pause{0, 1'000'000};
    nanosleep(&pause, nullptr);
  }
  const bool finished = cudaStreamQuery(stream) != cudaErrorNotReady;
  if (release != nullptr && finished) {
    cudaStreamSynchronize(release);
    cudaStreamDestroy(release);
  }
  return finished;
}

void ntbridge_demo_cuda_checker::FreeCuda() {
  for (cudaEvent_t event : done) cudaEventDestroy(event);
  done.clear();
  if (host_sums != nullptr) cudaFreeHost(std::exchange(host_sums, nullptr));
  if (sums != nullptr) cudaFree(std::exchange(sums, nullptr));
  if (stream != nullptr) cudaStreamDestroy(std::exchange(stream, nullptr));
}

void ntbridge_demo_cuda_checker::Submit(uint32_t frame) {
  if (frame != submitted || (frame >= ring && collected < frame - ring + 1ull)) {
    throw CudaImportError("frame " + std::to_string(frame) + " submitted out of turn");
  }
  const uint32_t slot = frame % ring;
  uint32_t* slot_sums = sums + 2 * slot;
  const auto* words = static_cast<const uint32_t*>(memory.data()) + slot * (slot_size / 4);
  ready_semaphore.Wait(stream, frame + 1ull);
  Check(cudaMemsetAsync(slot_sums, 0, 2 * sizeof(uint32_t), stream), "cudaMemsetAsync (sums)");
  Check(LaunchFrameCheck(words, static_cast<uint32_t>(slot_size / 4), slot_sums, blocks, stream),
        "the frame_check kernel's launch");
  free_semaphore.Signal(stream, frame + 1ull);
  Check(
      cudaMemcpyAsync(host_sums + 2 * slot, slot_sums, 2 * sizeof(uint32_t), cudaMemcpyDeviceToHost, stream),
      "cudaMemcpyAsync (sums to the host)");
  Check(cudaEventRecord(done[slot], stream), "cudaEventRecord");
  submitted = frame + 1ull;
}

bool ntbridge_demo_cuda_checker::Collect(uint32_t frame, uint32_t wait_us, uint64_t* checksum) {
  if (frame != collected || frame >= submitted) {
    throw CudaImportError("frame " + std::to_string(frame) + " collected out of turn");
  }
  const uint32_t slot = frame % ring;
  const auto start = std::chrono::steady_clock::now();
  const auto give_up = start + std::chrono::microseconds(wait_us);
  // Polls the event: a yield at first (a frame takes about a millisecond), then short sleeps.
  for (;;) {
    const cudaError_t state = cudaEventQuery(done[slot]);
    if (state == cudaSuccess) break;
    if (state != cudaErrorNotReady) Check(state, "cudaEventQuery (the check of a frame)");
    const auto now = std::chrono::steady_clock::now();
    if (now >= give_up) return false;
    if (now - start < std::chrono::microseconds(200)) {
      sched_yield();
    } else {
      const timespec pause{0, 20'000};
      nanosleep(&pause, nullptr);
    }
  }
  *checksum = (static_cast<uint64_t>(host_sums[2 * slot + 1]) << 32) | host_sums[2 * slot];
  collected = frame + 1ull;
  return true;
}

namespace {

ntbridge_demo_cuda_checker* Create(const ntbridge_demo_cuda_ring* ring, char* error, size_t error_size) {
  try {
    if (ring == nullptr) throw CudaImportError("no ring given");
    return new ntbridge_demo_cuda_checker(*ring);
  } catch (const std::exception& e) {
    Write(e.what(), error, error_size);
    return nullptr;
  }
}

void Destroy(ntbridge_demo_cuda_checker* checker) { delete checker; }

const char* DeviceName(const ntbridge_demo_cuda_checker* checker) { return checker->name.c_str(); }

int Submit(ntbridge_demo_cuda_checker* checker, uint32_t frame, char* error, size_t error_size) {
  try {
    checker->Submit(frame);
    return 0;
  } catch (const std::exception& e) {
    Write(e.what(), error, error_size);
    return -1;
  }
}

int Collect(ntbridge_demo_cuda_checker* checker, uint32_t frame, uint32_t wait_us, uint64_t* checksum,
            char* error, size_t error_size) {
  try {
    return checker->Collect(frame, wait_us, checksum) ? 1 : 0;
  } catch (const std::exception& e) {
    Write(e.what(), error, error_size);
    return -1;
  }
}

constexpr ntbridge_demo_cuda_api kApi = {
    NTBRIDGE_DEMO_CUDA_ABI, Create, Destroy, DeviceName, Submit, Collect};

}  // namespace

extern "C" __attribute__((visibility("default"))) const ntbridge_demo_cuda_api* ntbridge_demo_cuda_plugin() {
  return &kApi;
}
