// VK_KHR_external_memory_win32 is advertised, enabled and reachable through the real loader.
#include <unistd.h>

#include <cstring>

#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

std::vector<VkExtensionProperties> DeviceExtensions(VkPhysicalDevice gpu, const char* layer) {
  uint32_t count = 0;
  EXPECT_EQ(vkEnumerateDeviceExtensionProperties(gpu, layer, &count, nullptr), VK_SUCCESS);
  std::vector<VkExtensionProperties> props(count);
  EXPECT_EQ(vkEnumerateDeviceExtensionProperties(gpu, layer, &count, props.data()), VK_SUCCESS);
  props.resize(count);
  return props;
}

const VkExtensionProperties* Find(const std::vector<VkExtensionProperties>& props, const char* name) {
  for (const auto& p : props) {
    if (std::strcmp(p.extensionName, name) == 0) return &p;
  }
  return nullptr;
}

TEST(Advertise, ListedWithNullLayerName) {
  VulkanInstance vk;
  ASSERT_TRUE(vk.ok()) << vk.error;
  auto props = DeviceExtensions(vk.gpu, nullptr);
  const VkExtensionProperties* win32 = Find(props, VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME);
  ASSERT_NE(win32, nullptr);
  EXPECT_EQ(win32->specVersion, static_cast<uint32_t>(VK_KHR_EXTERNAL_MEMORY_WIN32_SPEC_VERSION));
  EXPECT_NE(Find(props, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME), nullptr);
}

TEST(Advertise, ListedForTheLayerName) {
  VulkanInstance vk;
  ASSERT_TRUE(vk.ok()) << vk.error;
  auto props = DeviceExtensions(vk.gpu, kLayer);
  // Memory, and semaphores and fences (lavapipe has timeline semaphores, so the shared payload serves them).
  ASSERT_EQ(props.size(), 3u);
  EXPECT_STREQ(props[0].extensionName, VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME);
  EXPECT_EQ(props[0].specVersion, static_cast<uint32_t>(VK_KHR_EXTERNAL_MEMORY_WIN32_SPEC_VERSION));
  EXPECT_STREQ(props[1].extensionName, VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME);
  EXPECT_EQ(props[1].specVersion, static_cast<uint32_t>(VK_KHR_EXTERNAL_SEMAPHORE_WIN32_SPEC_VERSION));
  EXPECT_STREQ(props[2].extensionName, VK_KHR_EXTERNAL_FENCE_WIN32_EXTENSION_NAME);
  EXPECT_EQ(props[2].specVersion, static_cast<uint32_t>(VK_KHR_EXTERNAL_FENCE_WIN32_SPEC_VERSION));
}

TEST(Advertise, IncompleteWhenTheArrayIsShort) {
  VulkanInstance vk;
  ASSERT_TRUE(vk.ok()) << vk.error;
  uint32_t count = 0;
  ASSERT_EQ(vkEnumerateDeviceExtensionProperties(vk.gpu, nullptr, &count, nullptr), VK_SUCCESS);
  ASSERT_GT(count, 1u);
  std::vector<VkExtensionProperties> props(count - 1);
  uint32_t short_count = count - 1;
  EXPECT_EQ(vkEnumerateDeviceExtensionProperties(vk.gpu, nullptr, &short_count, props.data()), VK_INCOMPLETE);
  EXPECT_EQ(short_count, count - 1);
}

TEST(Advertise, NotListedWithoutTheLayer) {
  VulkanInstance vk({.ntbridge = false});
  ASSERT_TRUE(vk.ok()) << vk.error;
  EXPECT_EQ(Find(DeviceExtensions(vk.gpu, nullptr), VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME), nullptr);
}

TEST(Advertise, DeviceCreationAndEntryPoints) {
  VulkanInstance vk;
  ASSERT_TRUE(vk.ok()) << vk.error;
  VulkanDevice dev(vk);
  ASSERT_EQ(dev.create_result, VK_SUCCESS);
  EXPECT_NE(dev.GetMemoryWin32HandleKHR, nullptr);
  EXPECT_NE(dev.GetMemoryWin32HandlePropertiesKHR, nullptr);
  // The loader's unknown-function path through vkGetInstanceProcAddr reaches the layer as well.
  EXPECT_NE(vkGetInstanceProcAddr(vk.instance, "vkGetMemoryWin32HandleKHR"), nullptr);
  auto problems = vk.monitor.Problems();
  EXPECT_TRUE(problems.empty()) << Describe(problems);
}

TEST(Advertise, EntryPointsAbsentWhenNotEnabled) {
  VulkanInstance vk;
  ASSERT_TRUE(vk.ok()) << vk.error;
  VulkanDevice dev(vk, {});
  ASSERT_EQ(dev.create_result, VK_SUCCESS);
  EXPECT_EQ(dev.GetMemoryWin32HandleKHR, nullptr);
  EXPECT_EQ(dev.GetMemoryWin32HandlePropertiesKHR, nullptr);
}

TEST(Advertise, FdExtensionCanBeEnabledBeside) {
  VulkanInstance vk;
  ASSERT_TRUE(vk.ok()) << vk.error;
  VulkanDevice dev(vk,
                   {VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME});
  ASSERT_EQ(dev.create_result, VK_SUCCESS);
  ASSERT_NE(dev.GetMemoryFdKHR, nullptr);
  VkDeviceMemory memory = dev.AllocateExportable(
      4096, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT | VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT);
  VkMemoryGetFdInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR, nullptr, memory,
                           VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
  int fd = -1;
  EXPECT_EQ(dev.GetMemoryFdKHR(dev.device, &get, &fd), VK_SUCCESS);
  EXPECT_GE(fd, 0);
  if (fd >= 0) close(fd);
  dev.Free(memory);
  auto problems = vk.monitor.Problems();
  EXPECT_TRUE(problems.empty()) << Describe(problems);
}

}  // namespace
}  // namespace ntbridge::test
