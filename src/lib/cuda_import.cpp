// Import of shared Vulkan memory into CUDA (include/ntbridge/cuda.hpp).
#include <cuda_runtime_api.h>

#include <cstring>
#include <ntbridge/cuda.hpp>
#include <sstream>
#include <utility>

#include "cuda_errors.hpp"

namespace ntbridge {

namespace cuda_detail {

void Fail(const std::string& what, cudaError_t error, const std::string& advice) {
  std::string text =
      "ntbridge: " + what + " failed: " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) + ")";
  if (!advice.empty()) text += "; " + advice;
  throw CudaImportError(text);
}

}  // namespace cuda_detail

namespace {

using cuda_detail::Fail;

std::string Hex(const uint8_t* bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

constexpr uint32_t kOpaqueWin32 = 0x2;  // VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT

}  // namespace

int FindCudaDevice(const uint8_t* uuid) {
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    Fail("cudaGetDeviceCount", error,
         "this machine has no usable CUDA device (is the NVIDIA driver loaded?)");
  }
  std::ostringstream seen;
  for (int device = 0; device < count; ++device) {
    cudaDeviceProp properties{};
    error = cudaGetDeviceProperties(&properties, device);
    if (error != cudaSuccess) Fail("cudaGetDeviceProperties(" + std::to_string(device) + ")", error);
    const auto* bytes = reinterpret_cast<const uint8_t*>(properties.uuid.bytes);
    if (std::memcmp(bytes, uuid, 16) == 0) return device;
    seen << "\n  CUDA device " << device << " '" << properties.name << "' uuid " << Hex(bytes);
  }
  throw CudaImportError(
      "ntbridge: no CUDA device has the exporter's device UUID " + Hex(uuid) +
      " (VkPhysicalDeviceIDProperties::deviceUUID); memory and semaphores can only be imported on the "
      "device that exported them. Devices:" +
      (count == 0 ? std::string(" none") : seen.str()));
}

CudaExternalMemory CudaExternalMemory::Import(const MemoryInfo& info, NtHandle handle) {
  if (info.handle_type != kOpaqueWin32 || !handle.valid()) {
    throw CudaImportError(
        "ntbridge: CudaExternalMemory::Import needs an NT handle (OPAQUE_WIN32); turn a KMT value or name "
        "into one with ntbridge::OpenShareAsNtHandle first");
  }
  CudaExternalMemory out;
  out.device_ = FindCudaDevice(info.device_uuid);
  out.size_ = info.allocation_size;
  out.handle_ = std::move(handle);
  cudaError_t error = cudaSetDevice(out.device_);
  if (error != cudaSuccess) Fail("cudaSetDevice(" + std::to_string(out.device_) + ")", error);

  // CUDA owns the descriptor it imports (and closes it when the import is destroyed): give it a duplicate.
  NtHandle for_cuda = out.handle_.Duplicate();
  cudaExternalMemoryHandleDesc desc{};
  desc.type = cudaExternalMemoryHandleTypeOpaqueFd;
  desc.handle.fd = for_cuda.fd();
  desc.size = info.allocation_size;
  desc.flags = info.dedicated ? cudaExternalMemoryDedicated : 0;
  cudaExternalMemory_t external = nullptr;
  error = cudaImportExternalMemory(&external, &desc);
  if (error != cudaSuccess) {
    Fail("cudaImportExternalMemory", error,
         "check allocation_size and the dedicated flag against the exporter's allocation");
  }
  for_cuda.Release();  // now CUDA's
  out.external_ = external;

  cudaExternalMemoryBufferDesc buffer{};
  buffer.offset = 0;
  buffer.size = info.allocation_size;
  error = cudaExternalMemoryGetMappedBuffer(&out.pointer_, external, &buffer);
  if (error != cudaSuccess) Fail("cudaExternalMemoryGetMappedBuffer", error);  // `out` cleans up
  return out;
}

CudaExternalMemory::CudaExternalMemory(CudaExternalMemory&& other) noexcept
    : pointer_(std::exchange(other.pointer_, nullptr)),
      external_(std::exchange(other.external_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      device_(std::exchange(other.device_, -1)),
      handle_(std::move(other.handle_)) {}

CudaExternalMemory& CudaExternalMemory::operator=(CudaExternalMemory&& other) noexcept {
  if (this != &other) {
    Reset();
    pointer_ = std::exchange(other.pointer_, nullptr);
    external_ = std::exchange(other.external_, nullptr);
    size_ = std::exchange(other.size_, 0);
    device_ = std::exchange(other.device_, -1);
    handle_ = std::move(other.handle_);
  }
  return *this;
}

void CudaExternalMemory::Reset() {
  // The order the CUDA documentation asks for: unmap (cudaFree), destroy the import, then close the handle.
  if (device_ >= 0) cudaSetDevice(device_);
  if (pointer_ != nullptr) cudaFree(std::exchange(pointer_, nullptr));
  if (external_ != nullptr)
    cudaDestroyExternalMemory(static_cast<cudaExternalMemory_t>(std::exchange(external_, nullptr)));
  handle_.Reset();
  size_ = 0;
  device_ = -1;
}

}  // namespace ntbridge
