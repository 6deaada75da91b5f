#include "demo_fd.hpp"

#include <cstdlib>
#include <string>

#include "demo_semaphores.hpp"
#include "driver_alone_env.hpp"

namespace ntbridge::tool {

void LeaveLayersOut() {
  for (const std::string_view name : LayerVariables()) unsetenv(std::string(name).c_str());
  setenv("VK_LOADER_LAYERS_DISABLE", "~all~", 1);
}

DemoInstance::DemoInstance(DemoMode mode)
    : instance(mode != DemoMode::kFd, mode == DemoMode::kFd ? &loader_messages : nullptr) {
  if (mode != DemoMode::kFd) return;
  const std::vector<std::string> layers = InsertedLayers(loader_messages);
  if (!layers.empty()) {
    std::string names;
    for (const std::string& layer : layers) names += (names.empty() ? "" : ", ") + layer;
    throw ToolError(
        "--mode fd must run on the driver alone, but the Vulkan loader inserted the layers " + names,
        "remove what enables them from the environment or the loader's settings (vkconfig)");
  }
}

HandleApi ApiOf(DemoMode mode) { return mode == DemoMode::kFd ? HandleApi::kFd : HandleApi::kWin32; }

void RequireFdBaseline(VkPhysicalDevice gpu, bool semaphores) {
  const GpuFacts facts = QueryGpu(gpu);
  const std::string name = facts.properties.deviceName;
  if (!facts.Has(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME)) {
    throw ToolError("the fd baseline cannot run on " + name + ": its driver has no VK_KHR_external_memory_fd",
                    "pick another device with --device");
  }
  if (!semaphores) return;
  const VkExternalSemaphoreProperties fd =
      TimelineProperties(gpu, VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT);
  const VkExternalSemaphoreFeatureFlags both =
      VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
  if (!facts.Has(VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME) ||
      (fd.externalSemaphoreFeatures & both) != both) {
    throw ToolError(
        "the fd baseline with --sync gpu cannot run on " + name + ": its driver " +
            (facts.Has(VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME)
                 ? std::string("does not export and import timeline semaphores as OPAQUE_FD")
                 : std::string("has no VK_KHR_external_semaphore_fd")) +
            ", so no timeline semaphore can be shared without ntbridge (ntbridge's shared payload is what "
            "the Win32 modes use there)",
        "compare with --sync cpu on this device, or run the baseline on a driver with external semaphore fds "
        "(NVIDIA, RADV, ANV)");
  }
}

int ExportMemoryFd(const Device& device, VkDeviceMemory memory) {
  VkMemoryGetFdInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR, nullptr, memory,
                            VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
  int fd = -1;
  CheckVk(device.GetMemoryFdKHR(device.get(), &info, &fd), "vkGetMemoryFdKHR (OPAQUE_FD)", "");
  return fd;
}

}  // namespace ntbridge::tool
