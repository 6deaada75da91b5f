#include "vk_fixture.hpp"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace ntbridge::test {
namespace {

// Under LeakSanitizer, libraries the loader unloads leave leaks nobody can name ("<unknown module>"). Keeping
// the layer, the validation layer and the driver loaded lets every leak be attributed (tests/lsan.supp then
// silences the driver's and the validation layer's own).
const bool kLibrariesPinned = [] {
  if (std::getenv("NTBRIDGE_TEST_PIN_LIBRARIES") == nullptr) return false;
  if (const char* dir = std::getenv("VK_ADD_LAYER_PATH")) {
    std::string path = std::string(dir) + "/libVkLayer_ntbridge_external_win32.so";
    dlopen(path.c_str(), RTLD_NOW | RTLD_NODELETE);
  }
  dlopen("libVkLayer_khronos_validation.so", RTLD_NOW | RTLD_NODELETE);
  dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_NODELETE);
  return true;
}();

// The tests talk to the broker of this build (tests/CMakeLists.txt): the default socket folder is this
// build's runtime folder, unless NTBRIDGE_TEST_KEEP_RUNTIME_DIR asks for the user's own. Only the first test
// program of a process tree sets it: a child started by a test gets what that test gave it.
const bool kRuntimeFolder = [] {
  if (std::getenv("NTBRIDGE_TEST_KEEP_RUNTIME_DIR") != nullptr ||
      std::getenv("NTBRIDGE_TEST_RUNTIME_SET") != nullptr) {
    return false;
  }
  setenv("XDG_RUNTIME_DIR", NTBRIDGE_TEST_RUNTIME_DIR, 1);
  setenv("NTBRIDGE_TEST_RUNTIME_SET", "1", 1);
  return true;
}();

}  // namespace

void Monitor::Add(Message m) {
  std::lock_guard lock(mutex_);
  messages_.push_back(std::move(m));
}

std::vector<Message> Monitor::Take() {
  std::lock_guard lock(mutex_);
  return std::exchange(messages_, {});
}

std::vector<Message> Monitor::Problems() {
  std::vector<Message> out;
  for (auto& m : Take()) {
    if (m.severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) out.push_back(std::move(m));
  }
  return out;
}

void Monitor::Clear() { Take(); }

VKAPI_ATTR VkBool32 VKAPI_CALL Monitor::Callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT,
                                                 const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                 void* user) {
  static_cast<Monitor*>(user)->Add(
      {severity, data->pMessageIdName ? data->pMessageIdName : "", data->pMessage ? data->pMessage : ""});
  return VK_FALSE;
}

std::string Describe(const std::vector<Message>& messages) {
  std::ostringstream out;
  for (const auto& m : messages) out << "\n  [" << m.id << "] " << m.text;
  return out.str();
}

VulkanInstance::VulkanInstance(const InstanceOptions& options) {
  std::vector<const char*> layers;
  if (options.ntbridge) layers.push_back(kLayer);
  // NTBRIDGE_TEST_NO_VALIDATION: leave the Khronos validation layer out (to tell its effects from
  // ntbridge's).
  if (options.validation && std::getenv("NTBRIDGE_TEST_NO_VALIDATION") == nullptr)
    layers.push_back(kValidationLayer);
  std::vector<const char*> extensions = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
  extensions.insert(extensions.end(), options.extensions.begin(), options.extensions.end());

  VkDebugUtilsMessengerCreateInfoEXT messenger_info{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  messenger_info.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
  messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger_info.pfnUserCallback = &Monitor::Callback;
  messenger_info.pUserData = &monitor;

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "ntbridge-tests";
  app.apiVersion = options.api_version;
  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pNext = &messenger_info;
  info.pApplicationInfo = &app;
  info.enabledLayerCount = static_cast<uint32_t>(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  VkResult r = vkCreateInstance(&info, nullptr, &instance);
  if (r != VK_SUCCESS) {
    error = "vkCreateInstance failed: " + std::to_string(r);
    instance = VK_NULL_HANDLE;
    return;
  }
  auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT"));
  create_messenger(instance, &messenger_info, nullptr, &messenger);

  uint32_t count = 0;
  vkEnumeratePhysicalDevices(instance, &count, nullptr);
  std::vector<VkPhysicalDevice> gpus(count);
  vkEnumeratePhysicalDevices(instance, &count, gpus.data());
  const char* wanted = std::getenv("NTBRIDGE_TEST_DEVICE");
  std::string want = wanted ? wanted : "llvmpipe";
  for (VkPhysicalDevice g : gpus) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(g, &props);
    if (std::strstr(props.deviceName, want.c_str()) != nullptr) {
      gpu = g;
      break;
    }
  }
  if (gpu == VK_NULL_HANDLE) error = "no physical device named like '" + want + "' (NTBRIDGE_TEST_DEVICE)";
}

VulkanInstance::~VulkanInstance() {
  if (instance == VK_NULL_HANDLE) return;
  if (messenger != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
    destroy(instance, messenger, nullptr);
  }
  vkDestroyInstance(instance, nullptr);
}

VulkanDevice::VulkanDevice(VulkanInstance& instance, std::vector<const char*> extensions, const void* pnext)
    : owner(instance) {
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue_info.queueFamilyIndex = 0;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, pnext};
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &queue_info;
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  create_result = vkCreateDevice(instance.gpu, &info, nullptr, &device);
  if (create_result != VK_SUCCESS) {
    device = VK_NULL_HANDLE;
    return;
  }
  vkGetDeviceQueue(device, 0, 0, &queue);
  GetMemoryWin32HandleKHR = reinterpret_cast<PFN_vkGetMemoryWin32HandleKHR>(
      vkGetDeviceProcAddr(device, "vkGetMemoryWin32HandleKHR"));
  GetMemoryWin32HandlePropertiesKHR = reinterpret_cast<PFN_vkGetMemoryWin32HandlePropertiesKHR>(
      vkGetDeviceProcAddr(device, "vkGetMemoryWin32HandlePropertiesKHR"));
  GetMemoryFdKHR = reinterpret_cast<PFN_vkGetMemoryFdKHR>(vkGetDeviceProcAddr(device, "vkGetMemoryFdKHR"));
}

VulkanDevice::~VulkanDevice() {
  if (device != VK_NULL_HANDLE) vkDestroyDevice(device, nullptr);
}

uint32_t VulkanDevice::HostVisibleType() const {
  VkPhysicalDeviceMemoryProperties props;
  vkGetPhysicalDeviceMemoryProperties(owner.gpu, &props);
  const VkMemoryPropertyFlags want =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  for (uint32_t i = 0; i < props.memoryTypeCount; ++i) {
    if ((props.memoryTypes[i].propertyFlags & want) == want) return i;
  }
  return UINT32_MAX;
}

VkResult VulkanDevice::Allocate(VkDeviceSize size, uint32_t type_index, const void* pnext,
                                VkDeviceMemory* memory) {
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, pnext, size, type_index};
  return vkAllocateMemory(device, &info, nullptr, memory);
}

uint32_t VulkanDevice::TypeFromBits(uint32_t bits) const {
  for (uint32_t i = 0; i < 32; ++i) {
    if (bits & (1u << i)) return i;
  }
  return UINT32_MAX;
}

VkDeviceMemory VulkanDevice::AllocateExportable(VkDeviceSize size, VkExternalMemoryHandleTypeFlags types,
                                                const VkExportMemoryWin32HandleInfoKHR* win32,
                                                uint32_t type_index) {
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, win32, types};
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkResult r =
      Allocate(size, type_index == UINT32_MAX ? HostVisibleType() : type_index, &export_info, &memory);
  EXPECT_EQ(r, VK_SUCCESS) << "vkAllocateMemory (export)";
  return r == VK_SUCCESS ? memory : VK_NULL_HANDLE;
}

VkDeviceMemory VulkanDevice::ImportHandle(VkDeviceSize size, VkExternalMemoryHandleTypeFlagBits type,
                                          HANDLE handle, LPCWSTR name, VkResult* result,
                                          uint32_t type_index) {
  VkImportMemoryWin32HandleInfoKHR import_info{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                               type, handle, name};
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkResult r =
      Allocate(size, type_index == UINT32_MAX ? HostVisibleType() : type_index, &import_info, &memory);
  if (result != nullptr) {
    *result = r;
  } else {
    EXPECT_EQ(r, VK_SUCCESS) << "vkAllocateMemory (import)";
  }
  return r == VK_SUCCESS ? memory : VK_NULL_HANDLE;
}

HANDLE VulkanDevice::GetHandle(VkDeviceMemory memory, VkExternalMemoryHandleTypeFlagBits type,
                               VkResult* result) {
  VkMemoryGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory,
                                     type};
  HANDLE handle = nullptr;
  VkResult r = GetMemoryWin32HandleKHR(device, &info, &handle);
  if (result != nullptr) {
    *result = r;
  } else {
    EXPECT_EQ(r, VK_SUCCESS) << "vkGetMemoryWin32HandleKHR";
  }
  return handle;
}

void VulkanDevice::Write(VkDeviceMemory memory, VkDeviceSize offset, const void* data, size_t size) {
  void* p = nullptr;
  ASSERT_EQ(vkMapMemory(device, memory, offset, size, 0, &p), VK_SUCCESS);
  std::memcpy(p, data, size);
  vkUnmapMemory(device, memory);
}

void VulkanDevice::Read(VkDeviceMemory memory, VkDeviceSize offset, void* data, size_t size) {
  void* p = nullptr;
  ASSERT_EQ(vkMapMemory(device, memory, offset, size, 0, &p), VK_SUCCESS);
  std::memcpy(data, p, size);
  vkUnmapMemory(device, memory);
}

uint32_t VulkanDevice::ReadU32(VkDeviceMemory memory, VkDeviceSize offset) {
  uint32_t v = 0;
  Read(memory, offset, &v, sizeof v);
  return v;
}

void VulkanDevice::WriteU32(VkDeviceMemory memory, uint32_t value, VkDeviceSize offset) {
  Write(memory, offset, &value, sizeof value);
}

void VulkanDevice::Free(VkDeviceMemory memory) { vkFreeMemory(device, memory, nullptr); }

bool BrokerBesideLayer() {
  const char* path = std::getenv("VK_ADD_LAYER_PATH");
  if (path == nullptr) return false;
  std::string folders = path;
  for (size_t start = 0; start <= folders.size();) {
    size_t end = folders.find(':', start);
    if (end == std::string::npos) end = folders.size();
    const std::string folder = folders.substr(start, end - start);
    if (!folder.empty() && access((folder + "/ntbridged").c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

int CountOpenFds() {
  int n = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory's own descriptor
}

void LayerTest::SetUp() {
  if (std::getenv("NTBRIDGE_TEST_TRACE_FDS") != nullptr)
    std::fprintf(stderr, "open descriptors: %d\n", CountOpenFds());
  vk = std::make_unique<VulkanInstance>();
  ASSERT_TRUE(vk->ok()) << vk->error;
  dev = std::make_unique<VulkanDevice>(*vk);
  ASSERT_EQ(dev->create_result, VK_SUCCESS);
  ASSERT_NE(dev->GetMemoryWin32HandleKHR, nullptr);
}

void LayerTest::TearDown() {
  dev.reset();
  if (vk) {
    auto problems = vk->monitor.Problems();
    EXPECT_TRUE(problems.empty()) << "unexpected messages:" << Describe(problems);
  }
  vk.reset();
}

}  // namespace ntbridge::test
