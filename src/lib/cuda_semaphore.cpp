// Import of Vulkan semaphores into CUDA (include/ntbridge/cuda.hpp).
#include <cuda_runtime_api.h>
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <ntbridge/cuda.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda_errors.hpp"

namespace ntbridge {

namespace {

using cuda_detail::Fail;

constexpr uint32_t kOpaqueWin32 = 0x2;  // VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT

// What `fd` is when it is a memfd, else "". The layer's shared payload is a sealed memfd named
// "ntbridge-sync" (src/layer/shared_payload/sync_state.hpp); no driver's payload is a memfd (NVIDIA's are
// device files), and CUDA would take one only to fail later, or worse, so it is told apart before CUDA sees
// it.
std::string MemfdName(int fd) {
  if (fcntl(fd, F_GET_SEALS) < 0) return "";  // EINVAL: not a memfd
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  char target[PATH_MAX];
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : std::string("a memfd");
}

// Makes `device` CUDA's current device for a scope and restores the application's after: the import and its
// destruction belong to the semaphore's device, the current device to the application.
class DeviceScope {
 public:
  // `strict`: a failure to switch throws CudaImportError (not from destructors).
  DeviceScope(int device, bool strict) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    const cudaError_t error = cudaSetDevice(device);
    if (error != cudaSuccess && strict) Fail("cudaSetDevice(" + std::to_string(device) + ")", error);
  }
  ~DeviceScope() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace

CudaExternalSemaphore CudaExternalSemaphore::Import(const SyncInfo& info, NtHandle handle) {
  if (info.kind == NTBRIDGE_SYNC_FENCE) {
    throw CudaImportError(
        "ntbridge: CudaExternalSemaphore::Import: `info` is a fence, and CUDA imports no fences "
        "(cudaImportExternalSemaphore takes semaphores): share a binary or timeline semaphore with CUDA");
  }
  if (info.kind != NTBRIDGE_SYNC_BINARY_SEMAPHORE && info.kind != NTBRIDGE_SYNC_TIMELINE_SEMAPHORE) {
    throw CudaImportError("ntbridge: CudaExternalSemaphore::Import: `info.kind` " +
                          std::to_string(info.kind) +
                          " is neither NTBRIDGE_SYNC_BINARY_SEMAPHORE nor NTBRIDGE_SYNC_TIMELINE_SEMAPHORE");
  }
  if (info.handle_type != kOpaqueWin32 || !handle.valid()) {
    throw CudaImportError(
        "ntbridge: CudaExternalSemaphore::Import needs an NT handle (OPAQUE_WIN32); turn a KMT value or name "
        "into one with ntbridge::OpenShareAsNtHandle first");
  }
  const std::string memfd = MemfdName(handle.fd());
  if (!memfd.empty()) {
    const bool ours = memfd.find("ntbridge-sync") != std::string::npos;
    throw CudaImportError(
        "ntbridge: CudaExternalSemaphore::Import: the NT handle is " +
        (ours ? "ntbridge's shared payload (" + memfd +
                    "), which the layer makes where the Vulkan driver has no VK_KHR_external_semaphore_fd; "
              : "a memfd (" + memfd + "), not a driver's semaphore; ") +
        "CUDA can import only a semaphore of its own driver: export it from a Vulkan device of the NVIDIA "
        "driver, the device CUDA runs on");
  }

  CudaExternalSemaphore out;
  out.kind_ = info.kind;
  out.device_ = FindCudaDevice(info.device_uuid);
  out.handle_ = std::move(handle);
  DeviceScope scope(out.device_, true);

  // CUDA owns the descriptor it imports (it closes it when the import is destroyed): give it a duplicate.
  NtHandle for_cuda = out.handle_.Duplicate();
  cudaExternalSemaphoreHandleDesc desc{};
  desc.type = out.timeline() ? cudaExternalSemaphoreHandleTypeTimelineSemaphoreFd
                             : cudaExternalSemaphoreHandleTypeOpaqueFd;
  desc.handle.fd = for_cuda.fd();
  cudaExternalSemaphore_t external = nullptr;
  const cudaError_t error = cudaImportExternalSemaphore(&external, &desc);
  if (error != cudaSuccess) {
    Fail("cudaImportExternalSemaphore", error,
         std::string("is the semaphore ") + (out.timeline() ? "a timeline" : "a binary") +
             " one, as `info.kind` says, exported by the Vulkan driver of this CUDA device?");
  }
  for_cuda.Release();  // now CUDA's
  out.external_ = external;
  return out;
}

CudaExternalSemaphore::CudaExternalSemaphore(CudaExternalSemaphore&& other) noexcept
    : external_(std::exchange(other.external_, nullptr)),
      kind_(std::exchange(other.kind_, 0)),
      device_(std::exchange(other.device_, -1)),
      handle_(std::move(other.handle_)) {}

CudaExternalSemaphore& CudaExternalSemaphore::operator=(CudaExternalSemaphore&& other) noexcept {
  if (this != &other) {
    Reset();
    external_ = std::exchange(other.external_, nullptr);
    kind_ = std::exchange(other.kind_, 0);
    device_ = std::exchange(other.device_, -1);
    handle_ = std::move(other.handle_);
  }
  return *this;
}

void CudaExternalSemaphore::Wait(CUstream_st* stream, uint64_t value) {
  if (external_ == nullptr) throw std::logic_error("ntbridge::CudaExternalSemaphore::Wait: nothing imported");
  if (!timeline() && value != 0) {
    throw std::invalid_argument("ntbridge::CudaExternalSemaphore::Wait: a binary semaphore has no value (" +
                                std::to_string(value) + " given)");
  }
  cudaExternalSemaphoreWaitParams params{};
  params.params.fence.value = value;
  auto external = static_cast<cudaExternalSemaphore_t>(external_);
  const cudaError_t error = cudaWaitExternalSemaphoresAsync(&external, &params, 1, stream);
  if (error != cudaSuccess) Fail("cudaWaitExternalSemaphoresAsync", error);
}

void CudaExternalSemaphore::Signal(CUstream_st* stream, uint64_t value) {
  if (external_ == nullptr)
    throw std::logic_error("ntbridge::CudaExternalSemaphore::Signal: nothing imported");
  if (!timeline() && value != 0) {
    throw std::invalid_argument("ntbridge::CudaExternalSemaphore::Signal: a binary semaphore has no value (" +
                                std::to_string(value) + " given)");
  }
  cudaExternalSemaphoreSignalParams params{};
  params.params.fence.value = value;
  auto external = static_cast<cudaExternalSemaphore_t>(external_);
  const cudaError_t error = cudaSignalExternalSemaphoresAsync(&external, &params, 1, stream);
  if (error != cudaSuccess) Fail("cudaSignalExternalSemaphoresAsync", error);
}

void CudaExternalSemaphore::Reset() {
  if (external_ != nullptr) {
    // The CUDA documentation asks that no wait or signal be outstanding: that is the application's part.
    DeviceScope scope(device_, false);
    cudaDestroyExternalSemaphore(static_cast<cudaExternalSemaphore_t>(std::exchange(external_, nullptr)));
  }
  handle_.Reset();
  kind_ = 0;
  device_ = -1;
}

}  // namespace ntbridge
