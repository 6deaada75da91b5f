// `ntbridge demo`: the producer (this process) and the consumer (the same program started again with exec)
// share memory three ways (NT handle, KMT value, name), synchronised on the CPU (one buffer, a message per
// frame) or on the GPU (a ring of buffers and two shared timeline semaphores, several frames in flight). The
// consumer checks frames on a Vulkan device or, where built, in CUDA. A fourth way, the driver's own fd
// extensions with no layer in either process, is the baseline the others' frames/s are measured against.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace ntbridge::tool {

// kFd: not ntbridge at all; the same pipeline on VK_KHR_external_memory_fd and VK_KHR_external_semaphore_fd
// (OPAQUE_FD, descriptors passed over the socket), with no layer in either process.
enum class DemoMode { kNt, kKmt, kName, kFd };
const char* ModeName(DemoMode mode);

// kCpu: after each frame the producer waits for its fence and sends the checksum; the consumer reads its
// mapping and answers. kGpu: the producer's GPU signals `ready` (an exported timeline semaphore, value =
// frame number + 1), the consumer's GPU waits for it, checks the frame and signals `free` back.
enum class DemoSync { kCpu, kGpu };
const char* SyncName(DemoSync sync);

// Where the consumer checks frames: on a Vulkan device, or in CUDA (--sync gpu only; the CUDA consumer is a
// plugin, demo_consumer_cuda.hpp).
enum class DemoConsumer { kVulkan, kCuda };
const char* ConsumerName(DemoConsumer consumer);

struct DemoOptions {
  uint32_t frames = 120;
  uint64_t size = 1 << 20;  // bytes per frame
  std::string device;       // part of a device name; empty: NVIDIA when present, else lavapipe
  DemoSync sync = DemoSync::kGpu;
  uint32_t ring = 3;  // kGpu: shared buffers, and so frames in flight
  DemoConsumer consumer = DemoConsumer::kVulkan;
};

struct ModeResult {
  uint32_t frames = 0;  // frames the consumer checked
  uint32_t mismatches = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  std::string producer_device;
  std::string consumer_device;
};

// Runs one mode; `progress(frame, mismatches)` after each frame. Throws ToolError on failure.
ModeResult RunProducer(DemoMode mode, const DemoOptions& options,
                       const std::function<void(uint32_t, uint32_t)>& progress);

// The consumer's side, on the inherited socket `fd`: the producer starts it with the mode (kFd or not tells
// it which extensions to import through) and the consumer kind. Returns the exit status.
int RunConsumer(int fd, DemoMode mode, DemoConsumer consumer);

}  // namespace ntbridge::tool
