// The process the settings tests start with exec, so that the layer reads its settings afresh.
//
//   ntbridge_validation_child twice    with a messenger: fetch the NT handle of one memory twice (00663),
//   then
//                                      once with pHandle NULL
//   ntbridge_validation_child stderr   without a messenger: call vkGetMemoryWin32HandleKHR with NULL info
//
// Prints "first=<VkResult> second=<VkResult> third=<VkResult> distinct=<0|1> ids=<id>,<id>..." (twice) or
// "result=<VkResult>" (stderr) on stdout. Exit status: 0 done, 4 no Vulkan device, 64 usage.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "vk_fixture.hpp"

namespace {

using ntbridge::test::VulkanDevice;
using ntbridge::test::VulkanInstance;

int Twice() {
  VulkanInstance vk;
  if (!vk.ok()) return 4;
  VulkanDevice dev(vk);
  if (dev.create_result != VK_SUCCESS) return 4;
  VkDeviceMemory memory = dev.AllocateExportable(64 * 1024, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
  VkResult first = VK_ERROR_UNKNOWN;
  VkResult second = VK_ERROR_UNKNOWN;
  HANDLE a = dev.GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, &first);
  HANDLE b = dev.GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, &second);
  // A violation after which the driver cannot be called, whatever validation_action says.
  VkMemoryGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory,
                                     VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  VkResult third = dev.GetMemoryWin32HandleKHR(dev.device, &info, nullptr);
  std::string ids;
  for (const auto& m : vk.monitor.Take()) ids += (ids.empty() ? "" : ",") + m.id;
  std::printf("first=%d second=%d third=%d distinct=%d ids=%s\n", first, second, third,
              a != b && b != nullptr, ids.c_str());
  if (a != nullptr) close(static_cast<int>(reinterpret_cast<intptr_t>(a)));
  if (b != nullptr) close(static_cast<int>(reinterpret_cast<intptr_t>(b)));
  dev.Free(memory);
  return 0;
}

int NoMessenger() {
  const char* layers[] = {ntbridge::test::kLayer};
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  info.enabledLayerCount = 1;
  info.ppEnabledLayerNames = layers;
  VkInstance instance = VK_NULL_HANDLE;
  if (vkCreateInstance(&info, nullptr, &instance) != VK_SUCCESS) return 4;
  uint32_t count = 1;
  VkPhysicalDevice gpu = VK_NULL_HANDLE;
  vkEnumeratePhysicalDevices(instance, &count, &gpu);
  if (gpu == VK_NULL_HANDLE) return 4;
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, nullptr, 0, 0, 1, &priority};
  const char* extensions[] = {VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME};
  VkDeviceCreateInfo device_info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue;
  device_info.enabledExtensionCount = 1;
  device_info.ppEnabledExtensionNames = extensions;
  VkDevice device = VK_NULL_HANDLE;
  if (vkCreateDevice(gpu, &device_info, nullptr, &device) != VK_SUCCESS) return 4;
  auto get = reinterpret_cast<PFN_vkGetMemoryWin32HandleKHR>(
      vkGetDeviceProcAddr(device, "vkGetMemoryWin32HandleKHR"));
  HANDLE handle = nullptr;
  VkResult r = get(device, nullptr, &handle);
  std::printf("result=%d\n", r);
  vkDestroyDevice(device, nullptr);
  vkDestroyInstance(instance, nullptr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "twice") return Twice();
  if (mode == "stderr") return NoMessenger();
  std::fprintf(stderr, "usage: %s twice | stderr\n", argv[0]);
  return 64;
}
