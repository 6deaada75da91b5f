// Built against the installed package: shares memory through the installed layer with the installed library
// and checks that the layer the loader picked is the installed one.
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ntbridge/transfer.hpp>
#include <ntbridge/vulkan.hpp>
#include <string>

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "consumer: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main() {
  const char* layers[] = {"VK_LAYER_NTBRIDGE_external_win32"};
  VkApplicationInfo app{
      VK_STRUCTURE_TYPE_APPLICATION_INFO, nullptr, "install-test", 1, nullptr, 0, VK_API_VERSION_1_1};
  VkInstanceCreateInfo instance_info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, nullptr, 0, &app, 1, layers};
  VkInstance instance = VK_NULL_HANDLE;
  if (vkCreateInstance(&instance_info, nullptr, &instance) != VK_SUCCESS) return Fail("vkCreateInstance");
  uint32_t count = 1;
  VkPhysicalDevice gpu = VK_NULL_HANDLE;
  vkEnumeratePhysicalDevices(instance, &count, &gpu);
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, nullptr, 0, 0, 1, &priority};
  const char* extensions[] = {VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME};
  VkDeviceCreateInfo device_info{
      VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, nullptr, 0, 1, &queue, 0, nullptr, 1, extensions};
  VkDevice device = VK_NULL_HANDLE;
  if (vkCreateDevice(gpu, &device_info, nullptr, &device) != VK_SUCCESS) return Fail("vkCreateDevice");

  // The layer in this process must be the installed one, from under ntbridge_LAYER_PATH's prefix.
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::string layer_file;
  while (std::getline(maps, line)) {
    if (line.find("libVkLayer_ntbridge_external_win32.so") != std::string::npos) layer_file = line;
  }
  const std::string prefix =
      std::string(NTBRIDGE_LAYER_PATH).substr(0, std::string(NTBRIDGE_LAYER_PATH).find("/share/"));
  if (layer_file.find(prefix) == std::string::npos) {
    return Fail("the loaded layer is not the installed one under " + prefix + ": " + layer_file);
  }

  VkPhysicalDeviceMemoryProperties memory_properties;
  vkGetPhysicalDeviceMemoryProperties(gpu, &memory_properties);
  uint32_t type = 0;
  while ((memory_properties.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) == 0)
    ++type;
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr,
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  VkMemoryAllocateInfo allocate{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &export_info, 65536, type};
  VkDeviceMemory memory = VK_NULL_HANDLE;
  if (vkAllocateMemory(device, &allocate, nullptr, &memory) != VK_SUCCESS) return Fail("vkAllocateMemory");
  auto get_handle = reinterpret_cast<PFN_vkGetMemoryWin32HandleKHR>(
      vkGetDeviceProcAddr(device, "vkGetMemoryWin32HandleKHR"));
  VkMemoryGetWin32HandleInfoKHR get_info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory,
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  HANDLE raw = nullptr;
  if (get_handle == nullptr || get_handle(device, &get_info, &raw) != VK_SUCCESS) {
    return Fail("vkGetMemoryWin32HandleKHR");
  }
  ntbridge::NtHandle handle(raw);

  ntbridge::MemoryInfo info{};
  info.allocation_size = 65536;
  info.memory_type_index = type;
  info.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  ntbridge::FillDeviceIds(vkGetInstanceProcAddr, instance, gpu, info);
  int sockets[2];
  socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets);
  ntbridge::SendMemory(sockets[0], info, handle);
  ntbridge::ReceivedMemory received = ntbridge::ReceiveMemory(sockets[1]);
  if (!received.handle.SameObject(handle) || received.info.allocation_size != 65536) {
    return Fail("the received handle is not the sent one");
  }
  vkFreeMemory(device, memory, nullptr);
  vkDestroyDevice(device, nullptr);
  vkDestroyInstance(instance, nullptr);
  std::printf("consumer: installed layer %s and library work\n",
              layer_file.substr(layer_file.find('/')).c_str());
  return 0;
}
