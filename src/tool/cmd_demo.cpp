// `ntbridge demo`: the README's main job. Live progress and the summary; the two processes are in
// demo_producer.cpp and demo_consumer.cpp.
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "commands.hpp"
#include "demo.hpp"
#include "errors.hpp"
#include "layer_path.hpp"

namespace ntbridge::tool {

const char* const kDemoHelp =
    R"(usage: ntbridge demo [--frames N] [--mode nt|kmt|name|all] [--size BYTES] [--device NAME]

Two processes share one Vulkan allocation through VK_KHR_external_memory_win32, the way Windows programs do.
The producer (this process) allocates exportable memory and starts a consumer process (this program again,
with exec). They share the memory
  nt    by an NT handle (vkGetMemoryWin32HandleKHR, OPAQUE_WIN32) passed over a Unix socket,
  kmt   by a KMT global share value (OPAQUE_WIN32_KMT), passed as a number,
  name  by a name (VkExportMemoryWin32HandleInfoKHR::name / VkImportMemoryWin32HandleInfoKHR::name).
For each frame the producer's GPU writes new contents with transfer commands (vkCmdFillBuffer,
vkCmdUpdateBuffer); the consumer reads them through its own import and compares their checksum with the one
the producer computed on the CPU. The exit status is 0 only if every frame of every mode matched.
KMT values and names are kept by the per-user broker, ntbridged, which the layer starts when needed.

  --frames N        frames per mode (default 120)
  --mode M          nt, kmt, name or all (default all)
  --size BYTES      bytes per frame, a multiple of 4, at least 4096 (default 1048576)
  --device NAME     the Vulkan device whose name contains NAME (default: an NVIDIA GPU when present,
                    else lavapipe)
  --help            this text

The layer is found through VK_ADD_LAYER_PATH; when that is unset, the tool points it at the installed or
build-tree manifest folder next to itself.
)";

int RunDemo(const DemoCommandLine& command) {
  if (command.consumer_socket >= 0) return RunConsumer(command.consumer_socket);
  const DemoOptions& options = command.options;
  std::vector<DemoMode> modes = {DemoMode::kNt, DemoMode::kKmt, DemoMode::kName};
  if (command.mode == "nt") {
    modes = {DemoMode::kNt};
  } else if (command.mode == "kmt") {
    modes = {DemoMode::kKmt};
  } else if (command.mode == "name") {
    modes = {DemoMode::kName};
  }
  EnsureLayerPath();
  const bool terminal = isatty(STDOUT_FILENO) != 0;

  int failed_modes = 0;
  uint64_t all_frames = 0;
  uint64_t all_mismatches = 0;
  for (DemoMode mode : modes) {
    const char* name = ModeName(mode);
    std::printf("[%s] sharing %llu bytes x %u frames ...%s", name,
                static_cast<unsigned long long>(options.size), options.frames, terminal ? "" : "\n");
    std::fflush(stdout);
    try {
      const ModeResult r = RunProducer(mode, options, [&](uint32_t frame, uint32_t mismatches) {
        if (terminal) {
          std::printf("\r[%s] frame %u/%u, mismatches %u   ", name, frame, options.frames, mismatches);
          std::fflush(stdout);
        }
      });
      const double fps = r.seconds > 0 ? r.frames / r.seconds : 0;
      std::printf(
          "%s[%s] %s: %u frames, %.1f MiB, %.1f frames/s, %u mismatches (producer: %s, consumer: %s)\n",
          terminal ? "\r" : "", name, r.mismatches == 0 && r.frames == options.frames ? "OK" : "FAILED",
          r.frames, r.bytes / 1048576.0, fps, r.mismatches, r.producer_device.c_str(),
          r.consumer_device.c_str());
      all_frames += r.frames;
      all_mismatches += r.mismatches;
      if (r.mismatches != 0 || r.frames != options.frames) ++failed_modes;
    } catch (const ToolError& e) {
      ++failed_modes;
      std::printf("%s[%s] FAILED: %s\n", terminal ? "\n" : "", name, e.what());
      if (!e.todo().empty()) std::printf("    what to do: %s\n", e.todo().c_str());
    }
  }
  std::printf("summary: %llu frames checked, %llu mismatches, %d of %zu modes failed\n",
              static_cast<unsigned long long>(all_frames), static_cast<unsigned long long>(all_mismatches),
              failed_modes, modes.size());
  return failed_modes == 0 ? 0 : 1;
}

}  // namespace ntbridge::tool
