// `ntbridge demo`: the producer (this process) and the consumer (the same program started again with exec)
// share memory three ways (NT handle, KMT value, name), synchronised on the CPU (one buffer, a message per
// frame) or on the GPU (a ring of buffers and two shared timeline semaphores, several frames in flight).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace ntbridge::tool {

enum class DemoMode { kNt, kKmt, kName };
const char* ModeName(DemoMode mode);

// kCpu: after each frame the producer waits for its fence and sends the checksum; the consumer reads its
// mapping and answers. kGpu: the producer's GPU signals `ready` (an exported timeline semaphore, value =
// frame number + 1), the consumer's GPU waits for it, checks the frame and signals `free` back.
enum class DemoSync { kCpu, kGpu };
const char* SyncName(DemoSync sync);

struct DemoOptions {
  uint32_t frames = 120;
  uint64_t size = 1 << 20;  // bytes per frame
  std::string device;       // part of a device name; empty: NVIDIA when present, else lavapipe
  DemoSync sync = DemoSync::kGpu;
  uint32_t ring = 3;  // kGpu: shared buffers, and so frames in flight
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

// The consumer's side, on the inherited socket `fd`. Returns the exit status.
int RunConsumer(int fd);

}  // namespace ntbridge::tool
