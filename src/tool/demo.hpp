// `ntbridge demo`: the producer (this process) and the consumer (the same program started again with exec)
// share one allocation three ways.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace ntbridge::tool {

enum class DemoMode { kNt, kKmt, kName };
const char* ModeName(DemoMode mode);

struct DemoOptions {
  uint32_t frames = 120;
  uint64_t size = 1 << 20;  // bytes per frame
  std::string device;       // part of a device name; empty: NVIDIA when present, else lavapipe
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
