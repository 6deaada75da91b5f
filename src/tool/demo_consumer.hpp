// The demo's consumer process: what it receives from the producer, and the seam for GPU consumers. A
// FrameChecker checks frames on some GPU API: the Vulkan one is demo_consumer_vulkan.cpp; the CUDA one
// (`ntbridge demo --consumer cuda`, demo_consumer_cuda.cpp and the plugin in cuda/) imports the same memory
// and semaphores through libntbridge_cuda, waits with cudaWaitExternalSemaphoresAsync, computes WordChecksum
// in a kernel and signals `free` back.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ntbridge/transfer.hpp>
#include <string>

#include "demo.hpp"
#include "demo_protocol.hpp"
#include "vk_session.hpp"

namespace ntbridge::tool {

// Everything the producer shared: the memory (a ring of setup.ring slots of setup.slot_size bytes) and, with
// GPU synchronisation, the `ready` and `free` timeline semaphores (NT handles, or KMT values and names in
// `setup`).
struct SharedRing {
  DemoMode mode = DemoMode::kNt;  // kFd: OPAQUE_FD descriptors, imported with no layer
  MemoryInfo memory{};
  NtHandle memory_handle;  // an NT handle of the memory, when the producer sent one (kFd: its descriptor)
  DemoSetup setup;
  NtHandle semaphores[2];  // NT handles of ready and free, when the producer sent them
};

// Checks frames on a GPU, several in flight. The frames are f = 0, 1, ... in order; frame f is in slot
// f % setup.ring. Submit(f) comes after Collect(f - setup.ring). Destroyed with frames still in flight (an
// error), it releases its GPU's waits on `ready` (a host signal past the last frame) rather than hang.
class FrameChecker {
 public:
  virtual ~FrameChecker() = default;
  virtual std::string device_name() const = 0;
  // Queues, without waiting: the GPU waits until `ready` reaches f + 1, computes WordChecksum over the slot,
  // then signals `free` = f + 1.
  virtual void Submit(uint32_t frame) = 0;
  // Waits until the check of `frame` is done and returns the checksum the GPU computed. Calls `between`
  // now and then while it waits; `between` throws to give up (the producer is gone).
  virtual uint64_t Collect(uint32_t frame, const std::function<void()>& between) = 0;
};

// The Vulkan consumer: imports the memory and both semaphores through the layer (kFd: the driver's fd
// extensions, no layer) and checks each frame in a compute shader (shaders/frame_check.comp). `ring` keeps
// its NT handles (imports do not take them).
std::unique_ptr<FrameChecker> MakeVulkanChecker(const SharedRing& ring);

// The CUDA consumer (demo_consumer_cuda.cpp): throws ToolError saying why where it is not built in, its
// plugin cannot be loaded, or CUDA cannot import what the producer shares.
std::unique_ptr<FrameChecker> MakeCudaChecker(const SharedRing& ring);

// Memory imported by NT handle, KMT value or name (by OPAQUE_FD descriptor where info.handle_type says so, a
// duplicate of `handle`); mapped when asked to.
class ImportedMemory {
 public:
  ImportedMemory(VkDevice device, const MemoryInfo& info, HANDLE handle, bool map);
  ~ImportedMemory();
  ImportedMemory(const ImportedMemory&) = delete;
  ImportedMemory& operator=(const ImportedMemory&) = delete;
  VkDeviceMemory get() const { return memory_; }
  const void* data() const { return data_; }

 private:
  void Map(bool map);

  VkDevice device_;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  void* data_ = nullptr;
};

}  // namespace ntbridge::tool
