// `ntbridge demo --mode fd`, the baseline: the same pipeline written directly on the driver's
// VK_KHR_external_memory_fd and VK_KHR_external_semaphore_fd (OPAQUE_FD descriptors over the socket), with no
// layer in either process, so that the Win32 modes' frames/s can be compared with the driver alone in one
// run. What differs from the Win32 modes is here; the frames, the ring and the checks are the same code.
#pragma once

#include <string>
#include <vector>

#include "demo.hpp"
#include "vk_session.hpp"

namespace ntbridge::tool {

// This process's environment loses every variable that enables layers or adds manifest folders, and gets
// VK_LOADER_LAYERS_DISABLE=~all~ (driver_alone_env.hpp): the loader puts no layer into this process's
// instances nor into the consumer's, which inherits the environment.
void LeaveLayersOut();

// The instance of a demo process: with the layer, or for kFd with none at all, which is checked (the loader
// reports each layer it inserts; any is an error).
struct DemoInstance {
  explicit DemoInstance(DemoMode mode);
  std::vector<std::string> loader_messages;  // kFd: what the loader said; outlives `instance`
  Instance instance;
};

HandleApi ApiOf(DemoMode mode);

// Throws ToolError saying why `gpu` cannot run the baseline: the driver must export and import memory as
// OPAQUE_FD and, with GPU synchronisation, timeline semaphores as OPAQUE_FD (lavapipe has no
// VK_KHR_external_semaphore_fd: --sync cpu runs there, --sync gpu does not).
void RequireFdBaseline(VkPhysicalDevice gpu, bool semaphores);

// The producer's export: an OPAQUE_FD descriptor of `memory` (vkGetMemoryFdKHR), owned by the caller.
int ExportMemoryFd(const Device& device, VkDeviceMemory memory);

}  // namespace ntbridge::tool
