// ntbridge: shared Vulkan memory in CUDA, without a copy. Built where the CUDA toolkit was found (the CMake
// target ntbridge::ntbridge_cuda, library libntbridge_cuda).
//
// An NT handle is a file descriptor, so the import is cudaImportExternalMemory with
// cudaExternalMemoryHandleTypeOpaqueFd. KMT values and names are turned into an NT handle first, through the
// layer (OpenShareAsNtHandle in ntbridge/vulkan.hpp). The CUDA device is the one whose cudaDeviceProp::uuid
// equals the exporter's VkPhysicalDeviceIDProperties::deviceUUID; any other device is refused.
#pragma once

#include <ntbridge/handle.hpp>
#include <ntbridge/transfer.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace ntbridge {

class NTBRIDGE_API CudaImportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The CUDA device ordinal whose UUID is `uuid` (16 bytes). Throws CudaImportError saying which devices exist
// when none matches, or why CUDA has no device at all.
NTBRIDGE_API int FindCudaDevice(const uint8_t* uuid);

// Owns the import of one shared allocation: the mapped device pointer, the cudaExternalMemory_t and the NT
// handle, released in that order (unmap with cudaFree, cudaDestroyExternalMemory, then CloseHandle).
class NTBRIDGE_API CudaExternalMemory {
 public:
  // Imports `handle`, an NT handle of the allocation `info` describes, and maps all of it. The handle is kept
  // (CUDA gets a duplicate: it takes ownership of the descriptor it imports). Uses
  // cudaExternalMemoryDedicated when info.dedicated is set.
  static CudaExternalMemory Import(const MemoryInfo& info, NtHandle handle);

  CudaExternalMemory() = default;
  ~CudaExternalMemory() { Reset(); }
  CudaExternalMemory(CudaExternalMemory&& other) noexcept;
  CudaExternalMemory& operator=(CudaExternalMemory&& other) noexcept;
  CudaExternalMemory(const CudaExternalMemory&) = delete;
  CudaExternalMemory& operator=(const CudaExternalMemory&) = delete;

  void* data() const { return pointer_; }  // a CUDA device pointer of size() bytes
  uint64_t size() const { return size_; }
  int device() const { return device_; }  // the CUDA device ordinal
  void Reset();

 private:
  void* pointer_ = nullptr;
  void* external_ = nullptr;  // cudaExternalMemory_t
  uint64_t size_ = 0;
  int device_ = -1;
  NtHandle handle_;
};

}  // namespace ntbridge
