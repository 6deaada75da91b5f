// The demo's CUDA consumer, as the tool sees it: a FrameChecker over the plugin's C interface
// (cuda/demo_cuda_plugin.h). The plugin takes NT handles only: KMT values and names become NT handles here,
// through the broker (OpenShareAsNtHandle), as a CUDA application does it.
#include "demo_consumer_cuda.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <ntbridge/vulkan.hpp>
#include <stdexcept>

#include "cuda/demo_cuda_plugin.h"
#include "demo_consumer.hpp"

namespace ntbridge::tool {

namespace fs = std::filesystem;

bool CudaConsumerBuiltIn() { return NTBRIDGE_DEMO_CUDA_PLUGIN[0] != '\0'; }

std::vector<std::string> CudaPluginCandidates() {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (error || !CudaConsumerBuiltIn()) return {};
  const fs::path folder = self.parent_path();
  return {(folder / NTBRIDGE_DEMO_CUDA_PLUGIN).string(),
          (folder / NTBRIDGE_DEMO_CUDA_INSTALL_DIR / NTBRIDGE_DEMO_CUDA_PLUGIN).lexically_normal().string()};
}

std::string FindCudaPlugin() {
  if (!CudaConsumerBuiltIn()) {
    throw ToolError("--consumer cuda is not built into this ntbridge: it was built without the CUDA toolkit",
                    "rebuild with the CUDA toolkit installed (cmake -DNTBRIDGE_WITH_CUDA=ON)");
  }
  std::string looked;
  for (const std::string& path : CudaPluginCandidates()) {
    if (access(path.c_str(), F_OK) == 0) return path;
    looked += (looked.empty() ? "" : ", ") + path;
  }
  throw ToolError(
      "the CUDA consumer " NTBRIDGE_DEMO_CUDA_PLUGIN " is not installed (looked for " + looked + ")",
      "install the package ntbridge-cuda (or `cmake --install` a build made with the CUDA toolkit)");
}

namespace {

const ntbridge_demo_cuda_api* LoadPlugin() {
  const std::string path = FindCudaPlugin();
  // Never closed: the CUDA runtime keeps threads and exit handlers of its own.
  void* plugin = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (plugin == nullptr) {
    const char* why = dlerror();
    throw ToolError("cannot load the CUDA consumer " + path + ": " + (why != nullptr ? why : "(no reason)"),
                    "it needs libntbridge_cuda and the CUDA runtime (libcudart): install the package "
                    "ntbridge-cuda, or put the folders holding them on LD_LIBRARY_PATH");
  }
  const auto entry = reinterpret_cast<ntbridge_demo_cuda_entry>(dlsym(plugin, NTBRIDGE_DEMO_CUDA_ENTRY));
  const ntbridge_demo_cuda_api* api = entry != nullptr ? entry() : nullptr;
  if (api == nullptr || api->abi != NTBRIDGE_DEMO_CUDA_ABI) {
    throw ToolError(path +
                        " is not the CUDA consumer of this ntbridge (no " NTBRIDGE_DEMO_CUDA_ENTRY
                        " of interface version " +
                        std::to_string(NTBRIDGE_DEMO_CUDA_ABI) + ")",
                    "install ntbridge and ntbridge-cuda of the same version");
  }
  return api;
}

// An NT handle of semaphore `which`: the one the producer sent, else one opened from its KMT value or name.
NtHandle SemaphoreHandle(const SharedRing& ring, DemoSemaphore which) {
  if (ring.semaphores[which]) return ring.semaphores[which].Duplicate();
  SyncInfo info{};
  info.kind = NTBRIDGE_SYNC_TIMELINE_SEMAPHORE;
  info.handle_type = ring.setup.handle_type;
  info.global_share = ring.setup.kmt[which];
  std::memcpy(info.device_uuid, ring.memory.device_uuid, sizeof info.device_uuid);
  std::memcpy(info.driver_uuid, ring.memory.driver_uuid, sizeof info.driver_uuid);
  std::wmemcpy(info.name, ring.setup.name[which], NTBRIDGE_MAX_NAME + 1);
  return OpenShareAsNtHandle(info);
}

class CudaChecker : public FrameChecker {
 public:
  explicit CudaChecker(const SharedRing& ring) : api_(LoadPlugin()) {
    if (ring.mode == DemoMode::kFd || ring.setup.sync != static_cast<uint32_t>(DemoSync::kGpu)) {
      throw ToolError("the CUDA consumer shares through ntbridge with --sync gpu only",
                      "see `ntbridge demo --help`");
    }
    ntbridge_demo_cuda_ring description{};
    NtHandle memory;
    NtHandle semaphores[2];
    try {
      // The plugin imports NT handles (OPAQUE_WIN32) only: a KMT value or a name becomes one first.
      memory = ring.memory_handle ? ring.memory_handle.Duplicate()
                                  : OpenShareAsNtHandle(VK_NULL_HANDLE, nullptr, ring.memory);
      semaphores[kReady] = SemaphoreHandle(ring, kReady);
      semaphores[kFree] = SemaphoreHandle(ring, kFree);
    } catch (const std::exception& e) {
      throw ToolError(std::string("the CUDA consumer cannot open what the producer shared: ") + e.what(),
                      "KMT values and names need the ntbridged broker: see `ntbridge status`");
    }
    description.memory = ring.memory;
    description.memory.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
    description.memory.global_share = 0;
    description.memory.name[0] = L'\0';
    description.memory_handle = memory.fd();
    description.ready_handle = semaphores[kReady].fd();
    description.free_handle = semaphores[kFree].fd();
    description.ring = ring.setup.ring;
    description.slot_size = ring.setup.slot_size;
    description.frames = ring.setup.frames;
    char error[1024] = {};
    checker_ = api_->create(&description, error, sizeof error);
    if (checker_ == nullptr) {
      throw ToolError(
          std::string("the CUDA consumer failed: ") + error,
          "run it on the NVIDIA GPU CUDA uses (see `ntbridge info`), with the producer on the same "
          "device");
    }
    // The plugin keeps duplicates: these NT handles close here, as an application closes its own.
  }
  ~CudaChecker() override { api_->destroy(checker_); }
  CudaChecker(const CudaChecker&) = delete;
  CudaChecker& operator=(const CudaChecker&) = delete;

  std::string device_name() const override { return api_->device_name(checker_); }

  void Submit(uint32_t frame) override {
    char error[1024] = {};
    if (api_->submit(checker_, frame, error, sizeof error) != 0) {
      throw ToolError(
          std::string("the CUDA consumer's check of frame ") + std::to_string(frame) + " failed: " + error,
          "");
    }
  }

  uint64_t Collect(uint32_t frame, const std::function<void()>& between) override {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      char error[1024] = {};
      uint64_t checksum = 0;
      const int state = api_->collect(checker_, frame, 100'000, &checksum, error, sizeof error);  // 100 ms
      if (state > 0) return checksum;
      if (state < 0) {
        throw ToolError(
            std::string("the CUDA consumer's check of frame ") + std::to_string(frame) + " failed: " + error,
            "");
      }
      if (between) between();
      if (std::chrono::steady_clock::now() > give_up) {
        throw ToolError("the CUDA consumer's check of frame " + std::to_string(frame) +
                            " (waiting for the producer's GPU) is not done after 60 s",
                        "the other demo process has stopped signalling; look above for its error");
      }
    }
  }

 private:
  const ntbridge_demo_cuda_api* api_;
  ntbridge_demo_cuda_checker* checker_ = nullptr;
};

}  // namespace

std::unique_ptr<FrameChecker> MakeCudaChecker(const SharedRing& ring) {
  return std::make_unique<CudaChecker>(ring);
}

}  // namespace ntbridge::tool
