#include "vk_session.hpp"

#include <cstdio>
#include <cstring>

namespace ntbridge::tool {

namespace {

VKAPI_ATTR VkBool32 VKAPI_CALL RecordLoaderMessage(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                   VkDebugUtilsMessageTypeFlagsEXT,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                   void* messages) {
  if (data != nullptr && data->pMessage != nullptr) {
    static_cast<std::vector<std::string>*>(messages)->push_back(data->pMessage);
  }
  return VK_FALSE;
}

}  // namespace

Instance::Instance(bool with_layer, std::vector<std::string>* loader_messages) {
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "ntbridge";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  const char* layers[] = {kLayerName};
  if (with_layer) {
    info.enabledLayerCount = 1;
    info.ppEnabledLayerNames = layers;
  }
  // The loader reports its layer decisions at INFO severity to the messengers chained to vkCreateInstance.
  VkDebugUtilsMessengerCreateInfoEXT messenger{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  messenger.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_VERBOSE_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_INFO_BIT_EXT |
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messenger.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                          VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                          VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger.pfnUserCallback = RecordLoaderMessage;
  messenger.pUserData = loader_messages;
  const char* extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
  if (loader_messages != nullptr) {
    info.pNext = &messenger;
    info.enabledExtensionCount = 1;
    info.ppEnabledExtensionNames = extensions;
  }
  const VkResult result = vkCreateInstance(&info, nullptr, &instance_);
  if (result == VK_ERROR_LAYER_NOT_PRESENT) {
    throw ToolError(
        "vkCreateInstance: the Vulkan loader cannot find the layer VK_LAYER_NTBRIDGE_external_win32",
        "install ntbridge (cmake --install), or set VK_ADD_LAYER_PATH to the folder holding "
        "VkLayer_ntbridge_external_win32.json (<build>/layer in a build tree)");
  }
  CheckVk(result,
          with_layer ? "vkCreateInstance (with VK_LAYER_NTBRIDGE_external_win32)" : "vkCreateInstance",
          "check that a Vulkan driver is installed (vulkaninfo --summary; on Debian: mesa-vulkan-drivers)");
}

Instance::~Instance() {
  if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

std::vector<VkPhysicalDevice> Instance::PhysicalDevices() const {
  uint32_t count = 0;
  vkEnumeratePhysicalDevices(instance_, &count, nullptr);
  std::vector<VkPhysicalDevice> gpus(count);
  vkEnumeratePhysicalDevices(instance_, &count, gpus.data());
  gpus.resize(count);
  return gpus;
}

GpuFacts QueryGpu(VkPhysicalDevice gpu) {
  GpuFacts facts;
  VkPhysicalDeviceIDProperties ids{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  facts.driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
  ids.pNext = &facts.driver;
  VkPhysicalDeviceProperties2 properties{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &ids};
  vkGetPhysicalDeviceProperties2(gpu, &properties);
  facts.driver.pNext = nullptr;
  facts.properties = properties.properties;
  std::memcpy(facts.device_uuid, ids.deviceUUID, VK_UUID_SIZE);
  std::memcpy(facts.driver_uuid, ids.driverUUID, VK_UUID_SIZE);
  uint32_t count = 0;
  vkEnumerateDeviceExtensionProperties(gpu, nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> extensions(count);
  vkEnumerateDeviceExtensionProperties(gpu, nullptr, &count, extensions.data());
  for (uint32_t i = 0; i < count; ++i) facts.extensions.insert(extensions[i].extensionName);
  return facts;
}

std::vector<std::string> InsertedLayers(const std::vector<std::string>& loader_messages) {
  static const std::string kPrefix = "Insert instance layer \"";
  std::vector<std::string> layers;
  for (const std::string& message : loader_messages) {
    const size_t start = message.find(kPrefix);
    if (start == std::string::npos) continue;
    const size_t name = start + kPrefix.size();
    const size_t end = message.find('"', name);
    if (end != std::string::npos) layers.push_back(message.substr(name, end - name));
  }
  return layers;
}

std::string UuidString(const uint8_t* uuid) {
  std::string out;
  char byte[3];
  for (uint32_t i = 0; i < VK_UUID_SIZE; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    std::snprintf(byte, sizeof byte, "%02x", uuid[i]);
    out += byte;
  }
  return out;
}

VkPhysicalDevice PickGpu(const Instance& instance, const std::string& wanted) {
  const auto gpus = instance.PhysicalDevices();
  if (gpus.empty()) {
    throw ToolError("vkEnumeratePhysicalDevices found no device",
                    "install a Vulkan driver (on Debian: apt-get install mesa-vulkan-drivers)");
  }
  VkPhysicalDevice lavapipe = VK_NULL_HANDLE;
  VkPhysicalDevice nvidia = VK_NULL_HANDLE;
  std::string names;
  for (VkPhysicalDevice gpu : gpus) {
    VkPhysicalDeviceProperties properties;
    vkGetPhysicalDeviceProperties(gpu, &properties);
    const std::string name = properties.deviceName;
    names += "\n  " + name;
    if (!wanted.empty() && name.find(wanted) != std::string::npos) return gpu;
    if (properties.vendorID == 0x10de && nvidia == VK_NULL_HANDLE) nvidia = gpu;
    if (name.find("llvmpipe") != std::string::npos && lavapipe == VK_NULL_HANDLE) lavapipe = gpu;
  }
  if (!wanted.empty()) {
    throw ToolError("no Vulkan device is named like '" + wanted + "'; devices:" + names,
                    "pass part of one of these names to --device");
  }
  if (nvidia != VK_NULL_HANDLE) return nvidia;
  return lavapipe != VK_NULL_HANDLE ? lavapipe : gpus.front();
}

VkPhysicalDevice GpuByUuid(const Instance& instance, const uint8_t* uuid) {
  for (VkPhysicalDevice gpu : instance.PhysicalDevices()) {
    if (std::memcmp(QueryGpu(gpu).device_uuid, uuid, VK_UUID_SIZE) == 0) return gpu;
  }
  throw ToolError("no Vulkan device here has the producer's deviceUUID " + UuidString(uuid),
                  "run both processes on the same machine with the same Vulkan drivers");
}

Device::Device(VkPhysicalDevice gpu, bool semaphores, HandleApi api) : gpu_(gpu), api_(api) {
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(gpu, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(gpu, &count, families.data());
  queue_family_ = UINT32_MAX;
  for (uint32_t i = 0; i < count; ++i) {
    // Every graphics or compute family supports transfer commands.
    if (families[i].queueFlags & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT | VK_QUEUE_TRANSFER_BIT)) {
      queue_family_ = i;
      break;
    }
  }
  if (queue_family_ == UINT32_MAX) throw ToolError("the device has no queue for transfer commands", "");
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue_info.queueFamilyIndex = queue_family_;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  const bool fd = api == HandleApi::kFd;
  const char* memory_extension =
      fd ? VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME : VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME;
  const char* semaphore_extension =
      fd ? VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME : VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME;
  const char* extensions[] = {memory_extension, semaphore_extension};
  VkDeviceCreateInfo info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &queue_info;
  info.enabledExtensionCount = semaphores ? 2 : 1;
  info.ppEnabledExtensionNames = extensions;
  VkPhysicalDeviceTimelineSemaphoreFeatures timeline{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
  const GpuFacts facts = QueryGpu(gpu);
  if (fd && !facts.Has(memory_extension)) {
    throw ToolError(std::string(facts.properties.deviceName) + " has no " + memory_extension,
                    "run `ntbridge info`: the fd baseline needs the driver's own external memory");
  }
  if (semaphores) {
    VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &timeline};
    vkGetPhysicalDeviceFeatures2(gpu, &features);
    if (!timeline.timelineSemaphore || facts.properties.apiVersion < VK_API_VERSION_1_2 ||
        !facts.Has(semaphore_extension)) {
      throw ToolError(std::string(facts.properties.deviceName) +
                          " lacks timeline semaphores (Vulkan 1.2) or " + semaphore_extension,
                      "run `ntbridge info` to see what it offers, or synchronise on the CPU (--sync cpu)");
    }
    timeline.pNext = nullptr;
    info.pNext = &timeline;
  }
  CheckVk(vkCreateDevice(gpu, &info, nullptr, &device_),
          std::string("vkCreateDevice with ") + memory_extension +
              (semaphores ? std::string(", ") + semaphore_extension + " and timelineSemaphore" : ""),
          fd ? "run `ntbridge info` to see what the driver offers"
             : "run `ntbridge info`: the device needs VK_KHR_external_memory_fd for ntbridge to emulate the "
               "extension");
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
  try {
    if (fd) {
      LoadFdFunctions(semaphores);
    } else {
      LoadWin32Functions(semaphores);
    }
  } catch (...) {
    vkDestroyDevice(device_, nullptr);  // a constructor that throws gets no destructor call
    throw;
  }
}

void Device::LoadWin32Functions(bool semaphores) {
  GetMemoryWin32HandleKHR = reinterpret_cast<PFN_vkGetMemoryWin32HandleKHR>(
      vkGetDeviceProcAddr(device_, "vkGetMemoryWin32HandleKHR"));
  if (GetMemoryWin32HandleKHR == nullptr) {
    throw ToolError(
        "vkGetDeviceProcAddr(vkGetMemoryWin32HandleKHR) returned NULL",
        "make sure VK_LAYER_NTBRIDGE_external_win32 is the layer the loader found (VK_LOADER_DEBUG=layer)");
  }
  if (semaphores) {
    GetSemaphoreWin32HandleKHR = reinterpret_cast<PFN_vkGetSemaphoreWin32HandleKHR>(
        vkGetDeviceProcAddr(device_, "vkGetSemaphoreWin32HandleKHR"));
    ImportSemaphoreWin32HandleKHR = reinterpret_cast<PFN_vkImportSemaphoreWin32HandleKHR>(
        vkGetDeviceProcAddr(device_, "vkImportSemaphoreWin32HandleKHR"));
    if (GetSemaphoreWin32HandleKHR == nullptr || ImportSemaphoreWin32HandleKHR == nullptr) {
      throw ToolError(
          "vkGetDeviceProcAddr returned NULL for vkGetSemaphoreWin32HandleKHR or "
          "vkImportSemaphoreWin32HandleKHR",
          "make sure VK_LAYER_NTBRIDGE_external_win32 is the layer the loader found "
          "(VK_LOADER_DEBUG=layer)");
    }
  }
}

void Device::LoadFdFunctions(bool semaphores) {
  GetMemoryFdKHR = reinterpret_cast<PFN_vkGetMemoryFdKHR>(vkGetDeviceProcAddr(device_, "vkGetMemoryFdKHR"));
  if (semaphores) {
    GetSemaphoreFdKHR =
        reinterpret_cast<PFN_vkGetSemaphoreFdKHR>(vkGetDeviceProcAddr(device_, "vkGetSemaphoreFdKHR"));
    ImportSemaphoreFdKHR =
        reinterpret_cast<PFN_vkImportSemaphoreFdKHR>(vkGetDeviceProcAddr(device_, "vkImportSemaphoreFdKHR"));
  }
  if (GetMemoryFdKHR == nullptr ||
      (semaphores && (GetSemaphoreFdKHR == nullptr || ImportSemaphoreFdKHR == nullptr))) {
    throw ToolError(
        "vkGetDeviceProcAddr returned NULL for vkGetMemoryFdKHR, vkGetSemaphoreFdKHR or "
        "vkImportSemaphoreFdKHR of the enabled fd extensions",
        "check the Vulkan driver (vulkaninfo)");
  }
}

Device::~Device() {
  if (device_ != VK_NULL_HANDLE) vkDestroyDevice(device_, nullptr);
}

uint32_t Device::HostVisibleType(uint32_t type_bits) const {
  VkPhysicalDeviceMemoryProperties properties;
  vkGetPhysicalDeviceMemoryProperties(gpu_, &properties);
  const VkMemoryPropertyFlags want =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  for (uint32_t i = 0; i < properties.memoryTypeCount; ++i) {
    if ((type_bits & (1u << i)) && (properties.memoryTypes[i].propertyFlags & want) == want) return i;
  }
  throw ToolError("no host-visible, host-coherent memory type can back an exportable buffer on this device",
                  "pick another device with --device");
}

uint32_t Device::DeviceLocalType(uint32_t type_bits) const {
  VkPhysicalDeviceMemoryProperties properties;
  vkGetPhysicalDeviceMemoryProperties(gpu_, &properties);
  for (uint32_t i = 0; i < properties.memoryTypeCount; ++i) {
    if ((type_bits & (1u << i)) &&
        (properties.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT))
      return i;
  }
  for (uint32_t i = 0; i < properties.memoryTypeCount; ++i) {
    if (type_bits & (1u << i)) return i;
  }
  throw ToolError("no memory type can back an exportable buffer on this device",
                  "pick another device with --device");
}

}  // namespace ntbridge::tool
