// libntbridge's Vulkan helpers: device UUIDs into the metadata, and KMT values and names turned into NT
// handles through the layer (what the CUDA import does with them).
#include <sys/stat.h>

#include <unistd.h>

#include <cstring>
#include <ntbridge/vulkan.hpp>

#include "vk_fixture.hpp"

namespace ntbridge {
namespace {

// NVIDIA's payload descriptors are all one device node: only the data tells two payloads apart.
bool IsDeviceNode(const NtHandle& h) {
  struct stat st {};
  return fstat(h.fd(), &st) == 0 && S_ISCHR(st.st_mode);
}

class VulkanShare : public test::LayerTest {
 protected:
  // KMT values and names need the broker; the layer finds ntbridged beside its library in the build tree.
  bool BrokerBuilt(std::string* why) {
    if (test::BrokerBesideLayer()) return true;
    *why = "the broker ntbridged is not built in this tree (KMT values and names need it)";
    return false;
  }
  MemoryInfo Describe(VkDeviceMemory, VkDeviceSize size, uint32_t type) {
    MemoryInfo info{};
    info.allocation_size = size;
    info.memory_type_index = dev->HostVisibleType();
    info.handle_type = type;
    FillDeviceIds(vkGetInstanceProcAddr, vk->instance, vk->gpu, info);
    return info;
  }
};

TEST_F(VulkanShare, FillDeviceIdsMatchesThePhysicalDevice) {
  VkPhysicalDeviceIDProperties ids{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  VkPhysicalDeviceProperties2 properties{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &ids};
  vkGetPhysicalDeviceProperties2(vk->gpu, &properties);
  MemoryInfo info{};
  FillDeviceIds(vkGetInstanceProcAddr, vk->instance, vk->gpu, info);
  EXPECT_EQ(std::memcmp(info.device_uuid, ids.deviceUUID, VK_UUID_SIZE), 0);
  EXPECT_EQ(std::memcmp(info.driver_uuid, ids.driverUUID, VK_UUID_SIZE), 0);
}

TEST_F(VulkanShare, AnNtHandleInfoIsRefused) {
  MemoryInfo info = Describe(VK_NULL_HANDLE, 65536, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
  EXPECT_THROW(OpenShareAsNtHandle(dev->device, vkGetDeviceProcAddr, info), std::invalid_argument);
}

TEST_F(VulkanShare, KmtValueBecomesAnNtHandleOfTheSamePayload) {
  std::string why;
  if (!BrokerBuilt(&why)) GTEST_SKIP() << why;
  VkDeviceMemory memory = dev->AllocateExportable(65536, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT |
                                                             VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  dev->WriteU32(memory, 0xC0FFEE01, 4096);
  const HANDLE kmt = dev->GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT);
  MemoryInfo info = Describe(memory, 65536, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT);
  info.global_share = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(kmt));
  NtHandle handle = OpenShareAsNtHandle(dev->device, vkGetDeviceProcAddr, info);
  ASSERT_TRUE(handle.valid());
  NtHandle direct(dev->GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT));
  // Where payloads are told apart by inode (not NVIDIA's one device node), the handles are the same object;
  // everywhere the data read through the handle below shows it is the shared payload.
  if (!IsDeviceNode(direct)) {
    EXPECT_TRUE(handle.SameObject(direct)) << "the NT handle must be of the shared payload";
  }
  VkDeviceMemory again =
      dev->ImportHandle(65536, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, handle.get());
  ASSERT_NE(again, VK_NULL_HANDLE);
  EXPECT_EQ(dev->ReadU32(again, 4096), 0xC0FFEE01u);
  dev->Free(again);
  dev->Free(memory);
}

TEST_F(VulkanShare, NameBecomesAnNtHandleOfTheSamePayload) {
  std::string why;
  if (!BrokerBuilt(&why)) GTEST_SKIP() << why;
  const std::wstring name = L"Local\\ntbridge-lib-test-" + std::to_wstring(getpid());
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR};
  win32.name = name.c_str();
  VkDeviceMemory memory =
      dev->AllocateExportable(65536, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, &win32);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  NtHandle direct(dev->GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT));
  dev->WriteU32(memory, 0xC0FFEE02, 8192);
  MemoryInfo info = Describe(memory, 65536, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
  SetName(info, name);
  NtHandle handle = OpenShareAsNtHandle(dev->device, vkGetDeviceProcAddr, info);
  ASSERT_TRUE(handle.valid());
  if (!IsDeviceNode(direct)) {
    EXPECT_TRUE(handle.SameObject(direct));
  }
  VkDeviceMemory again =
      dev->ImportHandle(65536, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, handle.get());
  ASSERT_NE(again, VK_NULL_HANDLE);
  EXPECT_EQ(dev->ReadU32(again, 8192), 0xC0FFEE02u);
  dev->Free(again);
  dev->Free(memory);
}

TEST_F(VulkanShare, UnknownNameFailsWithAMessage) {
  std::string why;
  if (!BrokerBuilt(&why)) GTEST_SKIP() << why;
  MemoryInfo info = Describe(VK_NULL_HANDLE, 65536, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
  SetName(info, L"Local\\ntbridge-no-such-name");
  try {
    (void)OpenShareAsNtHandle(dev->device, vkGetDeviceProcAddr, info);
    FAIL() << "an unknown name was opened";
  } catch (const std::runtime_error& e) {
    // Either no broker answers (none was started) or it holds no such name: both say which name.
    EXPECT_NE(std::string(e.what()).find("Local\\ntbridge-no-such-name"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ntbridge
