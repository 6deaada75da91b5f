// Where reports go: messengers chained to VkInstanceCreateInfo, messengers from
// vkCreateDebugUtilsMessengerEXT, each on its own, and the message's fields.
#include <cstdlib>

#include "validation_test.hpp"

namespace ntbridge::test {
namespace {

VkDebugUtilsMessengerCreateInfoEXT MessengerInfo(Monitor* monitor) {
  VkDebugUtilsMessengerCreateInfoEXT info{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  info.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
  info.messageType =
      VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT;
  info.pfnUserCallback = &Monitor::Callback;
  info.pUserData = monitor;
  return info;
}

// An instance (ntbridge over the Khronos layer) whose only messenger is chained to VkInstanceCreateInfo, or
// none; and a device with the extension.
struct Bare {
  explicit Bare(Monitor* chained) {
    const char* layers[] = {kLayer, kValidationLayer};
    const char* extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    auto messenger = MessengerInfo(chained);
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, chained ? &messenger : nullptr};
    info.pApplicationInfo = &app;
    // NTBRIDGE_TEST_NO_VALIDATION: a machine without the Khronos layer (as in every test fixture).
    info.enabledLayerCount = std::getenv("NTBRIDGE_TEST_NO_VALIDATION") != nullptr ? 1 : 2;
    info.ppEnabledLayerNames = layers;
    info.enabledExtensionCount = 1;
    info.ppEnabledExtensionNames = extensions;
    if (vkCreateInstance(&info, nullptr, &instance) != VK_SUCCESS) return;
    uint32_t count = 1;
    vkEnumeratePhysicalDevices(instance, &count, &gpu);
    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, nullptr, 0, 0, 1, &priority};
    const char* device_extensions[] = {VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME};
    VkDeviceCreateInfo device_info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    device_info.queueCreateInfoCount = 1;
    device_info.pQueueCreateInfos = &queue;
    device_info.enabledExtensionCount = 1;
    device_info.ppEnabledExtensionNames = device_extensions;
    if (gpu == VK_NULL_HANDLE || vkCreateDevice(gpu, &device_info, nullptr, &device) != VK_SUCCESS) return;
    get = reinterpret_cast<PFN_vkGetMemoryWin32HandleKHR>(
        vkGetDeviceProcAddr(device, "vkGetMemoryWin32HandleKHR"));
  }
  ~Bare() {
    if (device != VK_NULL_HANDLE) vkDestroyDevice(device, nullptr);
    if (instance != VK_NULL_HANDLE) vkDestroyInstance(instance, nullptr);
  }
  VkResult Violate() {
    HANDLE h = nullptr;
    return get(device, nullptr, &h);
  }
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice gpu = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  PFN_vkGetMemoryWin32HandleKHR get = nullptr;
};

void ExpectOneReport(Monitor& monitor) {
  auto messages = monitor.Take();
  ASSERT_EQ(messages.size(), 1u) << Describe(messages);
  EXPECT_EQ(messages[0].id, "VUID-vkGetMemoryWin32HandleKHR-pGetWin32HandleInfo-parameter");
  EXPECT_EQ(messages[0].severity, VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT);
  EXPECT_EQ(messages[0].text.rfind("[ntbridge] vkGetMemoryWin32HandleKHR: pGetWin32HandleInfo is NULL", 0),
            0u)
      << messages[0].text;
}

TEST(Reporting, ToAMessengerChainedToVkInstanceCreateInfo) {
  Monitor monitor;
  Bare vk(&monitor);
  ASSERT_NE(vk.get, nullptr);
  EXPECT_EQ(vk.Violate(), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOneReport(monitor);
}

TEST(Reporting, ToAMessengerFromVkCreateDebugUtilsMessengerEXT) {
  Monitor monitor;
  Bare vk(nullptr);
  ASSERT_NE(vk.get, nullptr);
  auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(vk.instance, "vkCreateDebugUtilsMessengerEXT"));
  auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(vk.instance, "vkDestroyDebugUtilsMessengerEXT"));
  auto info = MessengerInfo(&monitor);
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  ASSERT_EQ(create(vk.instance, &info, nullptr, &messenger), VK_SUCCESS);
  EXPECT_EQ(vk.Violate(), VK_ERROR_VALIDATION_FAILED_EXT);
  ExpectOneReport(monitor);
  // Once destroyed it hears nothing more (the report goes to stderr instead).
  destroy(vk.instance, messenger, nullptr);
  testing::internal::CaptureStderr();
  EXPECT_EQ(vk.Violate(), VK_ERROR_VALIDATION_FAILED_EXT);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(monitor.Take().empty());
  EXPECT_NE(err.find("ERROR: VUID-vkGetMemoryWin32HandleKHR-pGetWin32HandleInfo-parameter"),
            std::string::npos)
      << err;
}

TEST(Reporting, AMessengerThatWantsNoErrorsHearsNone) {
  Monitor monitor;
  Bare vk(nullptr);
  ASSERT_NE(vk.get, nullptr);
  auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(vk.instance, "vkCreateDebugUtilsMessengerEXT"));
  auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(vk.instance, "vkDestroyDebugUtilsMessengerEXT"));
  auto info = MessengerInfo(&monitor);
  info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  ASSERT_EQ(create(vk.instance, &info, nullptr, &messenger), VK_SUCCESS);
  EXPECT_EQ(vk.Violate(), VK_ERROR_VALIDATION_FAILED_EXT);
  EXPECT_TRUE(monitor.Take().empty());
  destroy(vk.instance, messenger, nullptr);
}

}  // namespace
}  // namespace ntbridge::test
