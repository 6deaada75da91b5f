// An application that loads Vulkan through volk (Debian's libvulkan-volk-dev) and includes ntbridge's
// <windows.h> for SECURITY_ATTRIBUTES: every Vulkan call goes through volk's function table (volkInitialize,
// volkLoadInstance, volkLoadDevice), nothing links the loader. It exports memory as an inheritable NT handle
// with a name, imports the handle, opens the name, and finds the name released with the last memory object.
// Built twice: volk.h first (volk declares DWORD as unsigned long; ntbridge's header adds the rest) and
// ntbridge's <windows.h> first (volk then takes every Win32 type from it).
// The order of these two is what the test is about.
// clang-format off
#if NTBRIDGE_TEST_WINDOWS_H_FIRST
#include <windows.h>
#include <volk.h>
#else
#include <volk.h>
#include <windows.h>
#endif
// clang-format on

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ntbridge/handle.hpp>
#include <string>
#include <type_traits>
#include <vector>

extern "C" size_t ntbridge_test_volk_c_security_attributes_size(void);

namespace {

#if NTBRIDGE_TEST_WINDOWS_H_FIRST
static_assert(std::is_same_v<DWORD, uint32_t>, "volk took DWORD from ntbridge's <windows.h>");
#else
static_assert(std::is_same_v<DWORD, unsigned long>, "volk declared DWORD itself: the order under test");
#endif

constexpr VkDeviceSize kSize = 65536;
constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;

// Under LeakSanitizer the loaded libraries stay loaded, so that leaks can be attributed (as in vk_fixture).
const bool kLibrariesPinned = [] {
  if (std::getenv("NTBRIDGE_TEST_PIN_LIBRARIES") == nullptr) return false;
  if (const char* dir = std::getenv("VK_ADD_LAYER_PATH")) {
    const std::string path = std::string(dir) + "/libVkLayer_ntbridge_external_win32.so";
    dlopen(path.c_str(), RTLD_NOW | RTLD_NODELETE);
  }
  dlopen("libVkLayer_khronos_validation.so", RTLD_NOW | RTLD_NODELETE);
  dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_NODELETE);
  return true;
}();

// Open descriptors of this process other than sockets: the layer keeps its connection to the broker, which
// the first named export opens, for the life of the process.
int CountOpenNonSocketFds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (const dirent* entry = readdir(d)) {
      char target[64] = {};
      const std::string link = std::string("/proc/self/fd/") + entry->d_name;
      if (readlink(link.c_str(), target, sizeof target - 1) > 0 && std::strncmp(target, "socket:", 7) != 0)
        ++n;
    }
    closedir(d);
  }
  return n;
}

VKAPI_ATTR VkBool32 VKAPI_CALL CollectErrors(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                             VkDebugUtilsMessageTypeFlagsEXT,
                                             const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  if (severity &
      (VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT)) {
    static_cast<std::vector<std::string>*>(user)->push_back(
        std::string(data->pMessageIdName ? data->pMessageIdName : "") + ": " + data->pMessage);
  }
  return VK_FALSE;
}

class Volk : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = CountOpenNonSocketFds();
    ASSERT_EQ(volkInitialize(), VK_SUCCESS) << "volk found no Vulkan loader (libvulkan.so.1)";
    ASSERT_NE(vkCreateInstance, nullptr);

    const VkApplicationInfo app{
        VK_STRUCTURE_TYPE_APPLICATION_INFO, nullptr, "ntbridge-volk", 1, nullptr, 0, VK_API_VERSION_1_1};
    // ntbridge above the Khronos validation layer, as in every test: what ntbridge sends down is validated.
    const char* layers[] = {"VK_LAYER_NTBRIDGE_external_win32", "VK_LAYER_KHRONOS_validation"};
    const char* extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkDebugUtilsMessengerCreateInfoEXT messenger_info{
        VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    messenger_info.messageSeverity =
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
    messenger_info.messageType =
        VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT;
    messenger_info.pfnUserCallback = &CollectErrors;
    messenger_info.pUserData = &problems_;
    const VkInstanceCreateInfo instance_info{
        VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, &messenger_info, 0, &app,
        // NTBRIDGE_TEST_NO_VALIDATION: a machine without the Khronos layer (as in every test fixture).
        std::getenv("NTBRIDGE_TEST_NO_VALIDATION") != nullptr ? 1u : 2u, layers, 1, extensions};
    ASSERT_EQ(vkCreateInstance(&instance_info, nullptr, &instance_), VK_SUCCESS);
    volkLoadInstance(instance_);
    ASSERT_NE(vkCreateDebugUtilsMessengerEXT, nullptr) << "volkLoadInstance loaded no instance functions";
    ASSERT_EQ(vkCreateDebugUtilsMessengerEXT(instance_, &messenger_info, nullptr, &messenger_), VK_SUCCESS);

    const char* wanted = std::getenv("NTBRIDGE_TEST_DEVICE");
    const std::string want = wanted != nullptr ? wanted : "llvmpipe";
    uint32_t count = 0;
    vkEnumeratePhysicalDevices(instance_, &count, nullptr);
    std::vector<VkPhysicalDevice> gpus(count);
    vkEnumeratePhysicalDevices(instance_, &count, gpus.data());
    for (VkPhysicalDevice candidate : gpus) {
      VkPhysicalDeviceProperties properties;
      vkGetPhysicalDeviceProperties(candidate, &properties);
      if (std::strstr(properties.deviceName, want.c_str()) != nullptr) gpu_ = candidate;
    }
    ASSERT_NE(gpu_, VK_NULL_HANDLE) << "no device named like '" << want << "' (NTBRIDGE_TEST_DEVICE)";

    const float priority = 1.0f;
    const VkDeviceQueueCreateInfo queue{
        VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, nullptr, 0, 0, 1, &priority};
    const char* device_extensions[] = {VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME};
    VkDeviceCreateInfo device_info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    device_info.queueCreateInfoCount = 1;
    device_info.pQueueCreateInfos = &queue;
    device_info.enabledExtensionCount = 1;
    device_info.ppEnabledExtensionNames = device_extensions;
    ASSERT_EQ(vkCreateDevice(gpu_, &device_info, nullptr, &device_), VK_SUCCESS);
    volkLoadDevice(device_);
    ASSERT_NE(vkGetMemoryWin32HandleKHR, nullptr) << "volkLoadDevice did not load vkGetMemoryWin32HandleKHR";
    ASSERT_NE(vkGetMemoryWin32HandlePropertiesKHR, nullptr);

    VkPhysicalDeviceMemoryProperties memory;
    vkGetPhysicalDeviceMemoryProperties(gpu_, &memory);
    const VkMemoryPropertyFlags host =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t i = 0; i < memory.memoryTypeCount && type_ == UINT32_MAX; ++i) {
      if ((memory.memoryTypes[i].propertyFlags & host) == host) type_ = i;
    }
    ASSERT_NE(type_, UINT32_MAX) << "no host-visible, host-coherent memory type";
  }

  void TearDown() override {
    if (device_ != VK_NULL_HANDLE) vkDestroyDevice(device_, nullptr);
    if (messenger_ != VK_NULL_HANDLE) vkDestroyDebugUtilsMessengerEXT(instance_, messenger_, nullptr);
    if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
    for (const std::string& p : problems_) ADD_FAILURE() << "reported: " << p;
    EXPECT_EQ(CountOpenNonSocketFds(), fds_before_) << "a descriptor was leaked";
  }

  VkDeviceMemory Allocate(const void* pnext, VkResult* result = nullptr) {
    const VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, pnext, kSize, type_};
    VkDeviceMemory memory = VK_NULL_HANDLE;
    const VkResult r = vkAllocateMemory(device_, &info, nullptr, &memory);
    if (result != nullptr) *result = r;
    return r == VK_SUCCESS ? memory : VK_NULL_HANDLE;
  }
  uint32_t* Map(VkDeviceMemory memory) {
    void* data = nullptr;
    EXPECT_EQ(vkMapMemory(device_, memory, 0, VK_WHOLE_SIZE, 0, &data), VK_SUCCESS);
    return static_cast<uint32_t*>(data);
  }

  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice gpu_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  uint32_t type_ = UINT32_MAX;
  std::vector<std::string> problems_;
  int fds_before_ = 0;
};

TEST(VolkHeaders, SecurityAttributesHasOneLayoutInCAndCpp) {
  EXPECT_EQ(ntbridge_test_volk_c_security_attributes_size(), sizeof(SECURITY_ATTRIBUTES));
  EXPECT_EQ(offsetof(SECURITY_ATTRIBUTES, bInheritHandle), 16u);
  EXPECT_EQ(offsetof(VkExportMemoryWin32HandleInfoKHR, name), 32u);
}

TEST_F(Volk, ExportImportAndOpenByNameThroughVolksFunctionTable) {
  const std::wstring name = L"Local\\ntbridge-volk-test-" + std::to_wstring(getpid()) +
                            (NTBRIDGE_TEST_WINDOWS_H_FIRST ? L"-windows-first" : L"-volk-first");

  // Export: an inheritable NT handle (bInheritHandle) with a name, dwAccess as an application writes it.
  SECURITY_ATTRIBUTES attributes{};
  attributes.nLength = sizeof attributes;
  attributes.bInheritHandle = TRUE;
  const VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                               &attributes, GENERIC_ALL, name.c_str()};
  const VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &win32, kNt};
  VkDeviceMemory exported = Allocate(&export_info);
  ASSERT_NE(exported, VK_NULL_HANDLE);
  uint32_t* words = Map(exported);
  words[0] = 0x600DCAFE;
  words[kSize / 4 - 1] = 0x12345678;
  vkUnmapMemory(device_, exported);

  const VkMemoryGetWin32HandleInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                          exported, kNt};
  HANDLE handle = nullptr;
  ASSERT_EQ(vkGetMemoryWin32HandleKHR(device_, &get, &handle), VK_SUCCESS);
  ntbridge::NtHandle owner(handle);
  ASSERT_TRUE(owner.valid()) << "vkGetMemoryWin32HandleKHR returned " << handle;
  // The layer read bInheritHandle from this program's SECURITY_ATTRIBUTES: FD_CLOEXEC is clear.
  const int fd = ntbridge_HandleToFd(handle);
  EXPECT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "bInheritHandle = TRUE was not honoured";
  // Whatever DWORD is in this file, GetHandleInformation assigns all of it.
  DWORD flags = static_cast<DWORD>(~DWORD{0});
  ASSERT_TRUE(ntbridge_GetHandleInformation(handle, &flags));
  EXPECT_EQ(flags, HANDLE_FLAG_INHERIT);

  // volk's pointer leads through the layer, which checks the call: the properties of opaque handles are
  // those of the exporting memory, so asking for them is refused with the VUID.
  VkMemoryWin32HandlePropertiesKHR properties{VK_STRUCTURE_TYPE_MEMORY_WIN32_HANDLE_PROPERTIES_KHR};
  EXPECT_EQ(vkGetMemoryWin32HandlePropertiesKHR(device_, kNt, handle, &properties),
            VK_ERROR_VALIDATION_FAILED_EXT);
  ASSERT_EQ(problems_.size(), 1u);
  EXPECT_EQ(problems_[0].rfind("VUID-vkGetMemoryWin32HandlePropertiesKHR-handleType-00666: ", 0), 0u)
      << problems_[0];
  problems_.clear();

  // Import the NT handle: the same memory, and the application keeps its handle.
  const VkImportMemoryWin32HandleInfoKHR by_handle{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
                                                   nullptr, kNt, handle, nullptr};
  VkDeviceMemory imported = Allocate(&by_handle);
  ASSERT_NE(imported, VK_NULL_HANDLE);
  EXPECT_GE(fcntl(fd, F_GETFD), 0) << "importing took the application's handle";
  const uint32_t* seen = Map(imported);
  EXPECT_EQ(seen[0], 0x600DCAFEu);
  EXPECT_EQ(seen[kSize / 4 - 1], 0x12345678u);
  vkUnmapMemory(device_, imported);

  // Open by name (the name comes after dwAccess in VkExportMemoryWin32HandleInfoKHR: the layout is shared).
  const VkImportMemoryWin32HandleInfoKHR by_name{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
                                                 nullptr, kNt, nullptr, name.c_str()};
  VkResult result = VK_ERROR_UNKNOWN;
  VkDeviceMemory opened = Allocate(&by_name, &result);
  ASSERT_EQ(result, VK_SUCCESS) << "opening the name the export gave failed";
  uint32_t* shared = Map(opened);
  EXPECT_EQ(shared[0], 0x600DCAFEu);
  shared[1] = 0xBEEF;
  vkUnmapMemory(device_, opened);
  words = Map(exported);
  EXPECT_EQ(words[1], 0xBEEFu);
  vkUnmapMemory(device_, exported);

  vkFreeMemory(device_, opened, nullptr);
  vkFreeMemory(device_, imported, nullptr);
  vkFreeMemory(device_, exported, nullptr);
  // The last memory object of the payload is gone: the name is released.
  VkDeviceMemory stale = Allocate(&by_name, &result);
  EXPECT_EQ(result, VK_ERROR_INVALID_EXTERNAL_HANDLE);
  if (stale != VK_NULL_HANDLE) vkFreeMemory(device_, stale, nullptr);
  ASSERT_EQ(problems_.size(), 1u) << "expected the layer's report of the released name";
  EXPECT_EQ(problems_[0].rfind("ntbridge-broker: ", 0), 0u) << problems_[0];
  problems_.clear();
  owner.Reset();
}

}  // namespace
