#include "bench_vk.hpp"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>
#include "wire.hpp"

namespace ntbridge::bench {

void Die(const std::string& what) {
  std::fprintf(stderr, "ntbridge bench: %s\n", what.c_str());
  std::exit(2);
}

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) Die("readlink /proc/self/exe failed");
  return std::string(buf, static_cast<size_t>(n));
}

uint64_t RaiseFdLimit(uint64_t want) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur >= want) return lim.rlim_cur;
  uint64_t nr_open = 1 << 20;
  if (std::ifstream f("/proc/sys/fs/nr_open"); f) f >> nr_open;
  rlimit raised{std::min<uint64_t>(want, nr_open), std::max<uint64_t>(lim.rlim_max, std::min(want, nr_open))};
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {  // not privileged: up to the hard limit
    raised = {std::min<rlim_t>(want, lim.rlim_max), lim.rlim_max};
    setrlimit(RLIMIT_NOFILE, &raised);
  }
  getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

void PrepareProcess() {
  if (const char* set = std::getenv("VK_ADD_LAYER_PATH"); set == nullptr || *set == '\0') {
    std::string exe = SelfExe();
    std::string dir = exe.substr(0, exe.rfind('/'));
    std::string layer_dir = dir + "/../layer";
    if (access((layer_dir + "/VkLayer_ntbridge_external_win32.json").c_str(), R_OK) == 0) {
      setenv("VK_ADD_LAYER_PATH", layer_dir.c_str(), 1);
    }
  }
  // Only ppEnabledLayerNames decides which side has the layer.
  unsetenv("VK_INSTANCE_LAYERS");
  unsetenv("VK_LOADER_LAYERS_ENABLE");
  RaiseFdLimit(1 << 20);
}

std::string MachineDescription() {
  utsname u{};
  uname(&u);
  std::string cpu = "unknown CPU";
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  return std::string(u.sysname) + " " + u.release + " " + u.machine + ", " + cpu + ", " +
         std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs online";
}

VkPhysicalDevice PickDevice(VkInstance instance) {
  uint32_t count = 0;
  vkEnumeratePhysicalDevices(instance, &count, nullptr);
  std::vector<VkPhysicalDevice> gpus(count);
  vkEnumeratePhysicalDevices(instance, &count, gpus.data());
  const char* want = std::getenv("NTBRIDGE_BENCH_DEVICE");
  VkPhysicalDevice first = VK_NULL_HANDLE, hardware = VK_NULL_HANDLE;
  for (VkPhysicalDevice g : gpus) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(g, &p);
    if (want != nullptr && *want != '\0') {
      if (std::strstr(p.deviceName, want) != nullptr) return g;
      continue;
    }
    if (first == VK_NULL_HANDLE) first = g;
    if (hardware == VK_NULL_HANDLE && p.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU) hardware = g;
  }
  return hardware != VK_NULL_HANDLE ? hardware : first;
}

bool HasDeviceExtension(VkPhysicalDevice gpu, const char* name) {
  uint32_t count = 0;
  vkEnumerateDeviceExtensionProperties(gpu, nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> props(count);
  vkEnumerateDeviceExtensionProperties(gpu, nullptr, &count, props.data());
  for (const auto& p : props) {
    if (std::strcmp(p.extensionName, name) == 0) return true;
  }
  return false;
}

VkResult& Sink(VkResult* r) {
  static thread_local VkResult ignored;
  return r != nullptr ? *r : ignored;
}

VkSide::VkSide(Side s) : side(s) {
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "ntbridge-bench";
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  const char* layers[] = {kLayer};
  if (side == Side::kWin32) {
    info.enabledLayerCount = 1;
    info.ppEnabledLayerNames = layers;
  }
  VkResult r = vkCreateInstance(&info, nullptr, &instance);
  if (r != VK_SUCCESS) {
    Die(std::string("vkCreateInstance (") + SideName(side) + " side) failed: " + std::to_string(r) +
        (side == Side::kWin32 ? " (is VK_ADD_LAYER_PATH pointing at the built layer's manifest folder?)"
                              : ""));
  }
  gpu = PickDevice(instance);
  if (gpu == VK_NULL_HANDLE) Die("no Vulkan physical device (NTBRIDGE_BENCH_DEVICE?)");

  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceIDProperties id{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES, &driver};
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &id};
  vkGetPhysicalDeviceProperties2(gpu, &props);
  device_name = props.properties.deviceName;
  driver_info = std::string(driver.driverName) + " " + driver.driverInfo;
  std::memcpy(device_uuid, id.deviceUUID, VK_UUID_SIZE);

  const char* extension = side == Side::kWin32 ? VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME
                                               : VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME;
  if (!HasDeviceExtension(gpu, extension)) {
    Die(std::string(device_name) + " does not offer " + extension + " on the " + SideName(side) + " side");
  }
  if (side == Side::kFd && HasDeviceExtension(gpu, VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME)) {
    Die("the fd side sees VK_KHR_external_memory_win32: a layer is enabled where none should be");
  }
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue.queueCount = 1;
  queue.pQueuePriorities = &priority;
  VkDeviceCreateInfo dinfo{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dinfo.queueCreateInfoCount = 1;
  dinfo.pQueueCreateInfos = &queue;
  dinfo.enabledExtensionCount = 1;
  dinfo.ppEnabledExtensionNames = &extension;
  r = vkCreateDevice(gpu, &dinfo, nullptr, &device);
  if (r != VK_SUCCESS)
    Die(std::string("vkCreateDevice (") + SideName(side) + ") failed: " + std::to_string(r));

  Load(device, AllocateMemory, "vkAllocateMemory");
  Load(device, FreeMemory, "vkFreeMemory");
  Load(device, GetMemoryFdKHR, "vkGetMemoryFdKHR");
  Load(device, GetMemoryWin32HandleKHR, "vkGetMemoryWin32HandleKHR");
  if (side == Side::kWin32 && GetMemoryWin32HandleKHR == nullptr) Die("no vkGetMemoryWin32HandleKHR");
  if (side == Side::kFd && GetMemoryFdKHR == nullptr) Die("no vkGetMemoryFdKHR");

  // The largest device-local heap's first type: the same index on both sides.
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(gpu, &mem);
  VkDeviceSize best = 0;
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i) {
    const auto& t = mem.memoryTypes[i];
    if ((t.propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && mem.memoryHeaps[t.heapIndex].size > best) {
      best = mem.memoryHeaps[t.heapIndex].size;
      memory_type = i;
    }
  }
  if (const char* forced = std::getenv("NTBRIDGE_BENCH_MEMORY_TYPE")) memory_type = std::atoi(forced);
}

VkSide::~VkSide() {
  if (device != VK_NULL_HANDLE) vkDestroyDevice(device, nullptr);
  if (instance != VK_NULL_HANDLE) vkDestroyInstance(instance, nullptr);
}

VkDeviceMemory VkSide::Allocate(VkDeviceSize size, VkResult* result) {
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, nullptr, size, memory_type};
  VkDeviceMemory m = VK_NULL_HANDLE;
  Sink(result) = AllocateMemory(device, &info, nullptr, &m);
  return m;
}

VkDeviceMemory VkSide::AllocateExportable(VkDeviceSize size, VkResult* result,
                                          VkExternalMemoryHandleTypeFlags extra, const wchar_t* name) {
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                         nullptr, 0, name};
  VkExportMemoryAllocateInfo exp{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr,
                                 (side == Side::kWin32 ? VkExternalMemoryHandleTypeFlags(kNt)
                                                       : VkExternalMemoryHandleTypeFlags(kOpaqueFd)) |
                                     extra};
  if (name != nullptr) exp.pNext = &win32;
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &exp, size, memory_type};
  VkDeviceMemory m = VK_NULL_HANDLE;
  Sink(result) = AllocateMemory(device, &info, nullptr, &m);
  return m;
}

int VkSide::Export(VkDeviceMemory memory, VkResult* result) {
  if (side == Side::kWin32) {
    VkMemoryGetWin32HandleInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory,
                                      kNt};
    HANDLE h = nullptr;
    VkResult r = Sink(result) = GetMemoryWin32HandleKHR(device, &get, &h);
    return r == VK_SUCCESS ? static_cast<int>(reinterpret_cast<intptr_t>(h)) : -1;
  }
  VkMemoryGetFdInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR, nullptr, memory, kOpaqueFd};
  int fd = -1;
  VkResult r = Sink(result) = GetMemoryFdKHR(device, &get, &fd);
  return r == VK_SUCCESS ? fd : -1;
}

uint32_t VkSide::ExportKmt(VkDeviceMemory memory, VkResult* result) {
  VkMemoryGetWin32HandleInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory,
                                    kKmt};
  HANDLE h = nullptr;
  VkResult r = Sink(result) = GetMemoryWin32HandleKHR(device, &get, &h);
  return r == VK_SUCCESS ? static_cast<uint32_t>(reinterpret_cast<uintptr_t>(h)) : 0;
}

VkDeviceMemory VkSide::ImportKeep(int fd, VkDeviceSize size, VkResult* result) {
  if (side == Side::kWin32) {
    VkImportMemoryWin32HandleInfoKHR imp{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, kNt,
                                         reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd)), nullptr};
    VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &imp, size, memory_type};
    VkDeviceMemory m = VK_NULL_HANDLE;
    Sink(result) = AllocateMemory(device, &info, nullptr, &m);
    return m;
  }
  int copy = dup(fd);
  if (copy < 0) {
    Sink(result) = VK_ERROR_TOO_MANY_OBJECTS;
    return VK_NULL_HANDLE;
  }
  VkResult r;
  VkDeviceMemory m = ImportConsume(copy, size, &r);
  if (r != VK_SUCCESS) close(copy);  // the driver consumes the fd only on success
  Sink(result) = r;
  return m;
}

VkDeviceMemory VkSide::ImportConsume(int fd, VkDeviceSize size, VkResult* result) {
  VkImportMemoryFdInfoKHR imp{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR, nullptr, kOpaqueFd, fd};
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &imp, size, memory_type};
  VkDeviceMemory m = VK_NULL_HANDLE;
  Sink(result) = AllocateMemory(device, &info, nullptr, &m);
  return m;
}

VkDeviceMemory VkSide::ImportName(const wchar_t* name, VkDeviceSize size, VkResult* result) {
  VkImportMemoryWin32HandleInfoKHR imp{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, kNt,
                                       nullptr, name};
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &imp, size, memory_type};
  VkDeviceMemory m = VK_NULL_HANDLE;
  Sink(result) = AllocateMemory(device, &info, nullptr, &m);
  return m;
}

VkDeviceMemory VkSide::ImportKmt(uint32_t kmt, VkDeviceSize size, VkResult* result) {
  VkImportMemoryWin32HandleInfoKHR imp{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, kKmt,
                                       reinterpret_cast<HANDLE>(static_cast<uintptr_t>(kmt)), nullptr};
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &imp, size, memory_type};
  VkDeviceMemory m = VK_NULL_HANDLE;
  Sink(result) = AllocateMemory(device, &info, nullptr, &m);
  return m;
}

void VkSide::Free(VkDeviceMemory memory) { FreeMemory(device, memory, nullptr); }

bool SendFd(int socket, int fd, const void* data, size_t size) {
  return SendPacket(socket, {static_cast<const uint8_t*>(data), size}, fd);
}

bool ReceiveFd(int socket, int* fd, void* data, size_t size) { return ReceiveWithFd(socket, data, size, fd); }

bool WriteAll(int fd, const void* data, size_t size) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace ntbridge::bench
