// `ntbridge demo`: the README's main job. Live progress and the summary; the two processes are in
// demo_producer.cpp and demo_consumer.cpp.
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "commands.hpp"
#include "demo.hpp"
#include "demo_consumer_cuda.hpp"
#include "demo_fd.hpp"
#include "errors.hpp"
#include "layer_path.hpp"

namespace ntbridge::tool {

const char* const kDemoHelp =
    R"(usage: ntbridge demo [--frames N] [--mode nt|kmt|name|all|fd] [--sync gpu|cpu] [--ring N] [--size BYTES]
                     [--consumer vulkan|cuda] [--device NAME]

Two processes share Vulkan memory and timeline semaphores through VK_KHR_external_memory_win32 and
VK_KHR_external_semaphore_win32, the way Windows programs do. The producer (this process) allocates
exportable memory and starts a consumer process (this program again, with exec). They share
  nt    by NT handles (vkGetMemoryWin32HandleKHR, vkGetSemaphoreWin32HandleKHR: OPAQUE_WIN32) passed over a
        Unix socket,
  kmt   by KMT global share values (OPAQUE_WIN32_KMT), passed as numbers,
  name  by names (VkExportMemoryWin32HandleInfoKHR::name, VkExportSemaphoreWin32HandleInfoKHR::name, and
        the Import structures' name).
  fd    not ntbridge at all, the baseline: the same frames, ring and checks written directly on the driver's
        VK_KHR_external_memory_fd and VK_KHR_external_semaphore_fd (OPAQUE_FD descriptors over the socket),
        with no layer in either process; compare its frames/s with nt's (scripts/demo_baseline.sh does).
For each frame the producer's GPU writes new contents with transfer commands (vkCmdFillBuffer,
vkCmdUpdateBuffer), and the consumer checks them against the contents the producer computed on the CPU.

  --sync gpu  (the default) Neither CPU waits for the other. The memory is a ring of buffers; the producer's
              GPU writes frame f into buffer f % N and signals the shared timeline semaphore `ready` = f + 1;
              the consumer's GPU waits for it, checks the frame in a compute shader and signals the second
              shared semaphore, `free` = f + 1, which the producer's GPU waits for before it writes that
              buffer again. N frames are in flight.
  --sync cpu  One buffer: after each frame the producer waits for its fence and sends the checksum; the
              consumer reads the memory through its mapping and answers.
The consumer checks frames on the same Vulkan device (--consumer vulkan) or in CUDA (--consumer cuda): it
imports the memory and both semaphores through libntbridge_cuda, waits with cudaWaitExternalSemaphoresAsync,
checks the frame in a CUDA kernel and signals `free` with cudaSignalExternalSemaphoresAsync, several frames in
flight. CUDA imports only its driver's own semaphores: it needs the NVIDIA GPU CUDA runs on (not lavapipe,
whose semaphores are ntbridge's shared payload), --sync gpu, and a build with the CUDA toolkit (its plugin is
in the package ntbridge-cuda).
The exit status is 0 only if every frame of every mode matched. The summary line gives frames/s for the run.
KMT values and names are kept by the per-user broker, ntbridged, which the layer starts when needed.

  --frames N        frames per mode (default 120)
  --mode M          nt, kmt, name, all (those three; the default) or fd (the baseline without ntbridge)
  --sync S          gpu or cpu (default gpu)
  --ring N          with --sync gpu: shared buffers, and so frames in flight, 1 to 16 (default 3)
  --size BYTES      bytes per frame, a multiple of 4, at least 4096 (default 1048576)
  --consumer C      vulkan or cuda (default vulkan)
  --device NAME     the Vulkan device whose name contains NAME (default: an NVIDIA GPU when present,
                    else lavapipe)
  --help            this text

The layer is found through VK_ADD_LAYER_PATH; when that is unset, the tool points it at the installed or
build-tree manifest folder next to itself. --mode fd takes every layer out of its processes' environment.
)";

namespace {

DemoMode ParseMode(const std::string& mode) {
  if (mode == "kmt") return DemoMode::kKmt;
  if (mode == "name") return DemoMode::kName;
  if (mode == "fd") return DemoMode::kFd;
  return DemoMode::kNt;
}

// Combinations the options cannot have; empty when there is none.
std::string CombinationError(const DemoCommandLine& command) {
  if (command.options.consumer != DemoConsumer::kCuda) return "";
  if (!CudaConsumerBuiltIn()) {
    return "--consumer cuda is not built into this ntbridge: it was built without the CUDA toolkit\n"
           "  what to do: rebuild with the CUDA toolkit installed (cmake -DNTBRIDGE_WITH_CUDA=ON), or use "
           "--consumer vulkan";
  }
  if (command.options.sync != DemoSync::kGpu) {
    return "--consumer cuda needs --sync gpu (the CUDA consumer waits for the shared semaphores on its GPU)\n"
           "  what to do: see `ntbridge demo --help`";
  }
  if (command.mode == "fd") {
    return "--consumer cuda shares through ntbridge (--mode nt, kmt or name); the fd baseline has the Vulkan "
           "consumer only\n  what to do: see `ntbridge demo --help`";
  }
  return "";
}

}  // namespace

int RunDemo(const DemoCommandLine& command) {
  if (command.consumer_socket >= 0) {
    return RunConsumer(command.consumer_socket, ParseMode(command.mode), command.options.consumer);
  }
  if (const std::string error = CombinationError(command); !error.empty()) {
    std::fprintf(stderr, "ntbridge demo: error: %s\n", error.c_str());
    return 2;
  }
  const DemoOptions& options = command.options;
  // Before anything runs: the consumer process will load it (ToolError, exit status 1, when it is missing).
  if (options.consumer == DemoConsumer::kCuda) FindCudaPlugin();
  std::vector<DemoMode> modes = {DemoMode::kNt, DemoMode::kKmt, DemoMode::kName};
  if (command.mode != "all") modes = {ParseMode(command.mode)};
  if (modes.front() == DemoMode::kFd) {
    LeaveLayersOut();  // the baseline: the driver alone, in this process and the consumer
  } else {
    EnsureLayerPath();
  }
  const bool terminal = isatty(STDOUT_FILENO) != 0;

  int failed_modes = 0;
  uint64_t all_frames = 0;
  uint64_t all_mismatches = 0;
  double all_seconds = 0;
  std::string how = options.sync == DemoSync::kGpu
                        ? "GPU-synchronised, " + std::to_string(options.ring) + " in flight"
                        : std::string("CPU-synchronised");
  if (options.consumer == DemoConsumer::kCuda) how += ", checked in CUDA";
  if (modes.front() == DemoMode::kFd) how += "; OPAQUE_FD without ntbridge, no layer";
  for (DemoMode mode : modes) {
    const char* name = ModeName(mode);
    std::printf("[%s] sharing %llu bytes x %u frames (%s) ...%s", name,
                static_cast<unsigned long long>(options.size), options.frames, how.c_str(),
                terminal ? "" : "\n");
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
      all_seconds += r.seconds;
      if (r.mismatches != 0 || r.frames != options.frames) ++failed_modes;
    } catch (const ToolError& e) {
      ++failed_modes;
      std::printf("%s[%s] FAILED: %s\n", terminal ? "\n" : "", name, e.what());
      if (!e.todo().empty()) std::printf("    what to do: %s\n", e.todo().c_str());
    }
  }
  std::printf(
      "summary: %llu frames checked, %llu mismatches, %d of %zu modes failed; %.1f frames/s (--sync %s",
      static_cast<unsigned long long>(all_frames), static_cast<unsigned long long>(all_mismatches),
      failed_modes, modes.size(), all_seconds > 0 ? all_frames / all_seconds : 0.0, SyncName(options.sync));
  if (options.sync == DemoSync::kGpu) std::printf(", --ring %u", options.ring);
  std::printf(", %llu bytes a frame, --consumer %s)\n", static_cast<unsigned long long>(options.size),
              ConsumerName(options.consumer));
  return failed_modes == 0 ? 0 : 1;
}

}  // namespace ntbridge::tool
