// ntbridge from Vulkan-Hpp: vk::Device::getMemoryWin32HandleKHR through the layer, with a
// vk::DispatchLoaderDynamic, and the handle imported back with vk::ImportMemoryWin32HandleInfoKHR.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <ntbridge/handle.hpp>
#include <vulkan/vulkan.hpp>

#include "vk_fixture.hpp"  // CountOpenFds; under sanitizers it also keeps the driver loaded for LeakSanitizer

namespace {

uint32_t HostVisibleType(vk::PhysicalDevice gpu, const vk::DispatchLoaderDynamic& d) {
  const auto properties = gpu.getMemoryProperties(d);
  const auto want = vk::MemoryPropertyFlagBits::eHostVisible | vk::MemoryPropertyFlagBits::eHostCoherent;
  for (uint32_t i = 0; i < properties.memoryTypeCount; ++i) {
    if ((properties.memoryTypes[i].propertyFlags & want) == want) return i;
  }
  return UINT32_MAX;
}

TEST(VulkanHpp, GetMemoryWin32HandleKHRThroughTheLayer) {
  const int fds_before = ntbridge::test::CountOpenFds();
  vk::DynamicLoader loader;
  vk::DispatchLoaderDynamic d(loader.getProcAddress<PFN_vkGetInstanceProcAddr>("vkGetInstanceProcAddr"));
  const vk::ApplicationInfo app("ntbridge-vulkan-hpp", 1, nullptr, 0, VK_API_VERSION_1_1);
  const char* layers[] = {"VK_LAYER_NTBRIDGE_external_win32"};
  vk::Instance instance = vk::createInstance(vk::InstanceCreateInfo({}, &app, layers), nullptr, d);
  d.init(instance);

  const char* wanted = std::getenv("NTBRIDGE_TEST_DEVICE");
  const std::string want = wanted ? wanted : "llvmpipe";
  vk::PhysicalDevice gpu;
  for (vk::PhysicalDevice candidate : instance.enumeratePhysicalDevices(d)) {
    if (std::strstr(candidate.getProperties(d).deviceName, want.c_str()) != nullptr) gpu = candidate;
  }
  ASSERT_TRUE(gpu) << "no device named like " << want;

  const float priority = 1.0f;
  const vk::DeviceQueueCreateInfo queue({}, 0, 1, &priority);
  const char* extensions[] = {VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME};
  vk::Device device = gpu.createDevice(vk::DeviceCreateInfo({}, queue, {}, extensions), nullptr, d);
  d.init(device);
  ASSERT_NE(d.vkGetMemoryWin32HandleKHR, nullptr);

  const uint32_t type = HostVisibleType(gpu, d);
  ASSERT_NE(type, UINT32_MAX);
  const vk::ExportMemoryAllocateInfo export_info(vk::ExternalMemoryHandleTypeFlagBits::eOpaqueWin32);
  vk::DeviceMemory exported =
      device.allocateMemory(vk::MemoryAllocateInfo(65536, type, &export_info), nullptr, d);
  auto* words = static_cast<uint32_t*>(device.mapMemory(exported, 0, VK_WHOLE_SIZE, {}, d));
  words[0] = 0x600DCAFE;
  words[4095] = 0x12345678;
  device.unmapMemory(exported, d);

  const HANDLE handle = device.getMemoryWin32HandleKHR(
      vk::MemoryGetWin32HandleInfoKHR(exported, vk::ExternalMemoryHandleTypeFlagBits::eOpaqueWin32), d);
  ntbridge::NtHandle owner(handle);
  ASSERT_TRUE(owner.valid()) << "getMemoryWin32HandleKHR returned " << handle;

  const vk::ImportMemoryWin32HandleInfoKHR import_info(vk::ExternalMemoryHandleTypeFlagBits::eOpaqueWin32,
                                                       owner.get());
  vk::DeviceMemory imported =
      device.allocateMemory(vk::MemoryAllocateInfo(65536, type, &import_info), nullptr, d);
  EXPECT_TRUE(owner.valid()) << "importing does not take the application's handle";
  const auto* seen = static_cast<const uint32_t*>(device.mapMemory(imported, 0, VK_WHOLE_SIZE, {}, d));
  EXPECT_EQ(seen[0], 0x600DCAFEu);
  EXPECT_EQ(seen[4095], 0x12345678u);
  device.unmapMemory(imported, d);

  device.freeMemory(imported, nullptr, d);
  device.freeMemory(exported, nullptr, d);
  device.destroy(nullptr, d);
  instance.destroy(nullptr, d);
  owner.Reset();
  EXPECT_EQ(ntbridge::test::CountOpenFds(), fds_before) << "a descriptor was leaked";
}

}  // namespace
