// ntbridge: shared Vulkan memory and semaphores in CUDA, without a copy or a host wait. Built where the CUDA
// toolkit was found (the CMake target ntbridge::ntbridge_cuda, library libntbridge_cuda).
//
// An NT handle is a file descriptor, so the imports are cudaImportExternalMemory with
// cudaExternalMemoryHandleTypeOpaqueFd, and cudaImportExternalSemaphore with
// cudaExternalSemaphoreHandleTypeOpaqueFd (binary) or cudaExternalSemaphoreHandleTypeTimelineSemaphoreFd
// (timeline). KMT values and names are turned into an NT handle first, through the broker
// (OpenShareAsNtHandle in ntbridge/vulkan.hpp). The CUDA device is the one whose cudaDeviceProp::uuid equals
// the exporter's VkPhysicalDeviceIDProperties::deviceUUID; any other device is refused.
#pragma once

#include <ntbridge/handle.hpp>
#include <ntbridge/transfer.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

struct CUstream_st;  // what cudaStream_t points to: the header needs no CUDA include

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

// Owns the import of one Vulkan semaphore into CUDA: the cudaExternalSemaphore_t and the NT handle, released
// in that order. CUDA has no fences: a fence is refused. So is a semaphore of ntbridge's shared payload (the
// payload the layer makes where the Vulkan driver has no VK_KHR_external_semaphore_fd, e.g. lavapipe;
// DESIGN.md §7): CUDA can import only its driver's own objects, such as NVIDIA's opaque descriptors.
class NTBRIDGE_API CudaExternalSemaphore {
 public:
  // Imports `handle`, an NT handle of the semaphore `info` describes (binary or timeline, by info.kind). The
  // handle is kept (CUDA gets a duplicate: it takes ownership of the descriptor it imports); on failure it is
  // closed. Throws CudaImportError saying what was wrong.
  static CudaExternalSemaphore Import(const SyncInfo& info, NtHandle handle);

  CudaExternalSemaphore() = default;
  ~CudaExternalSemaphore() { Reset(); }
  CudaExternalSemaphore(CudaExternalSemaphore&& other) noexcept;
  CudaExternalSemaphore& operator=(CudaExternalSemaphore&& other) noexcept;
  CudaExternalSemaphore(const CudaExternalSemaphore&) = delete;
  CudaExternalSemaphore& operator=(const CudaExternalSemaphore&) = delete;

  // Enqueue on `stream` (a cudaStream_t of device(); nullptr: the default stream, with device() current) a
  // wait until the semaphore is signalled, or a signal of it (cudaWaitExternalSemaphoresAsync,
  // cudaSignalExternalSemaphoresAsync). Timeline: the wait is for the counter to reach `value`, the signal
  // sets it to `value`. Binary: `value` must be 0; a wait consumes the signal, as a Vulkan wait does.
  // std::invalid_argument for a value on a binary semaphore, std::logic_error on an empty owner,
  // CudaImportError when CUDA fails.
  void Wait(CUstream_st* stream, uint64_t value = 0);
  void Signal(CUstream_st* stream, uint64_t value = 0);

  bool timeline() const { return kind_ == NTBRIDGE_SYNC_TIMELINE_SEMAPHORE; }
  int device() const { return device_; }   // the CUDA device ordinal
  void* get() const { return external_; }  // the cudaExternalSemaphore_t, for batches of several semaphores
  void Reset();

 private:
  void* external_ = nullptr;  // cudaExternalSemaphore_t
  uint32_t kind_ = 0;
  int device_ = -1;
  NtHandle handle_;
};

}  // namespace ntbridge
