// Imports of semaphore and fence NT handles checked against the object that exported them, in this process:
// by the layer's shared payload (its page tells the semaphore type) where the driver has no opaque fd sync
// objects (lavapipe), and by the handle's open file description where the payload is the driver's (NVIDIA,
// RADV, ANV: docs/validation.md, "NT handles traced to their exporter"); and the one import of a shared
// payload that a device of another driver refuses.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "sync_support.hpp"

namespace ntbridge::test {
namespace {

class SyncExporterKnown : public SyncTest {
 protected:
  // The import must fail with exactly `vuid`.
  void ExpectRefused(VkResult r, const char* vuid) {
    EXPECT_EQ(r, VK_ERROR_VALIDATION_FAILED_EXT);
    auto problems = s->vk->monitor.Problems();
    ASSERT_EQ(problems.size(), 1u) << Describe(problems);
    EXPECT_EQ(problems[0].id, vuid);
  }
};

// VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262: the importing semaphore must have the exporter's
// semaphoreType. Also through a duplicate of the handle, and after the application closed the original.
TEST_F(SyncExporterKnown, BinarySemaphoreHandleIntoATimelineSemaphore) {
  VkSemaphore binary = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(binary, kSemNt);
  ASSERT_GT(Fd(h), 0);
  VkSemaphore timeline = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ExpectRefused(s->ImportSemaphore(timeline, kSemNt, h),
                "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262");
  const int copy = fcntl(Fd(h), F_DUPFD_CLOEXEC, 0);
  close(Fd(h));
  ExpectRefused(s->ImportSemaphore(timeline, kSemNt, reinterpret_cast<HANDLE>(static_cast<intptr_t>(copy))),
                "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262");
  // Into a binary semaphore it is valid.
  VkSemaphore other = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  EXPECT_EQ(s->ImportSemaphore(other, kSemNt, reinterpret_cast<HANDLE>(static_cast<intptr_t>(copy))),
            VK_SUCCESS);
  close(copy);
  vkDestroySemaphore(s->dev->device, other, nullptr);
  vkDestroySemaphore(s->dev->device, timeline, nullptr);
  vkDestroySemaphore(s->dev->device, binary, nullptr);
}

// A timeline semaphore's handle into a binary semaphore: 03262 too.
TEST_F(SyncExporterKnown, TimelineSemaphoreHandleIntoABinarySemaphore) {
  VkSemaphore timeline = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 3, kSemNt);
  HANDLE h = s->SemaphoreHandle(timeline, kSemNt);
  ASSERT_GT(Fd(h), 0);
  VkSemaphore binary = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  ExpectRefused(s->ImportSemaphore(binary, kSemNt, h),
                "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262");
  close(Fd(h));
  vkDestroySemaphore(s->dev->device, binary, nullptr);
  vkDestroySemaphore(s->dev->device, timeline, nullptr);
}

// A semaphore's handle is no fence's.
TEST_F(SyncExporterKnown, SemaphoreHandleIntoAFence) {
  VkSemaphore semaphore = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  HANDLE h = s->SemaphoreHandle(semaphore, kSemNt);
  ASSERT_GT(Fd(h), 0);
  VkFence fence = s->Fence(false);
  ExpectRefused(s->ImportFence(fence, kFenceNt, h), "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461");
  close(Fd(h));
  vkDestroyFence(s->dev->device, fence, nullptr);
  vkDestroySemaphore(s->dev->device, semaphore, nullptr);
}

// What traces the handles goes with the objects: once the application closed its handles and destroyed the
// objects, no descriptor of their payloads is left.
TEST_F(SyncExporterKnown, NothingOfAnExportOutlivesItsObject) {
  // One export and import first, so that whatever the driver and the layer open once is open already.
  VkSemaphore warm = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  close(Fd(s->SemaphoreHandle(warm, kSemNt)));
  vkDestroySemaphore(s->dev->device, warm, nullptr);
  const int fds = CountOpenFds();
  VkSemaphore semaphore = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  VkFence fence = s->Fence(false, kFenceNt);
  HANDLE hs = s->SemaphoreHandle(semaphore, kSemNt);
  HANDLE hf = s->FenceHandle(fence, kFenceNt);
  VkSemaphore importer = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  EXPECT_EQ(s->ImportSemaphore(importer, kSemNt, hs), VK_SUCCESS);
  close(Fd(hs));
  close(Fd(hf));
  vkDestroySemaphore(s->dev->device, importer, nullptr);
  vkDestroySemaphore(s->dev->device, semaphore, nullptr);
  vkDestroyFence(s->dev->device, fence, nullptr);
  EXPECT_EQ(CountOpenFds(), fds);
}

// A timeline semaphore of a device whose driver has no external timeline semaphores (lavapipe) holds the
// layer's shared payload. A device whose timeline semaphores are the driver's (NVIDIA) cannot take it: the
// host commands of its timeline semaphores go to the driver past the layer, and OPAQUE_WIN32 payloads are
// shared only between devices of the same driverUUID and deviceUUID. The import is refused with
// VK_ERROR_INVALID_EXTERNAL_HANDLE. Needs both kinds of driver in one machine.
TEST(SyncExporterOtherDriver, SharedTimelinePayloadIntoADriverTimelineSemaphoreIsRefused) {
  uint8_t shared_uuid[VK_UUID_SIZE] = {}, driver_uuid[VK_UUID_SIZE] = {};
  bool have_shared = false, have_driver = false;
  uint32_t count = 0;
  {
    InstanceOptions options;
    options.ntbridge = false;
    options.api_version = VK_API_VERSION_1_2;
    VulkanInstance plain(options);
    ASSERT_NE(plain.instance, VK_NULL_HANDLE) << plain.error;
    vkEnumeratePhysicalDevices(plain.instance, &count, nullptr);
    std::vector<VkPhysicalDevice> gpus(count);
    vkEnumeratePhysicalDevices(plain.instance, &count, gpus.data());
    for (VkPhysicalDevice gpu : gpus) {
      VkPhysicalDeviceIDProperties ids{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
      VkPhysicalDeviceProperties2 properties{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &ids};
      vkGetPhysicalDeviceProperties2(gpu, &properties);
      VkPhysicalDeviceTimelineSemaphoreFeatures timeline{
          VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
      VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &timeline};
      vkGetPhysicalDeviceFeatures2(gpu, &features);
      if (DriverHasExternalTimelineFd(gpu)) {
        std::memcpy(driver_uuid, ids.deviceUUID, VK_UUID_SIZE);
        have_driver = true;
      } else if (timeline.timelineSemaphore == VK_TRUE) {
        std::memcpy(shared_uuid, ids.deviceUUID, VK_UUID_SIZE);
        have_shared = true;
      }
    }
  }
  if (!have_shared || !have_driver) {
    GTEST_SKIP() << "needs a device whose driver has external timeline semaphores (NVIDIA) and one whose "
                    "driver has none (lavapipe) in one machine; of the "
                 << count << " physical device(s) here, " << (have_driver ? "one has" : "none has")
                 << " external timeline semaphores and " << (have_shared ? "one has" : "none has") << " none";
  }
  SyncDevice exporter(shared_uuid);
  ASSERT_TRUE(exporter.ok()) << exporter.error;
  SyncDevice importer(driver_uuid);
  ASSERT_TRUE(importer.ok()) << importer.error;
  VkSemaphore shared = exporter.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 3, kSemNt);
  HANDLE h = exporter.SemaphoreHandle(shared, kSemNt);
  ASSERT_GT(Fd(h), 0);
  VkSemaphore timeline = importer.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 1);
  EXPECT_EQ(importer.ImportSemaphore(timeline, kSemNt, h), VK_ERROR_INVALID_EXTERNAL_HANDLE);
  auto problems = importer.vk->monitor.Problems();
  ASSERT_EQ(problems.size(), 1u) << Describe(problems);
  EXPECT_EQ(problems[0].id, "ntbridge-sync");
  for (const char* part : {"vkImportSemaphoreWin32HandleKHR", "NT handle", "shared payload", "driverUUID"}) {
    EXPECT_NE(problems[0].text.find(part), std::string::npos) << part << " in: " << problems[0].text;
  }
  // Refused again, now that whatever the first import opened once is open: nothing of it stays.
  const int fds = CountOpenFds();
  EXPECT_EQ(importer.ImportSemaphore(timeline, kSemNt, h), VK_ERROR_INVALID_EXTERNAL_HANDLE);
  EXPECT_EQ(CountOpenFds(), fds) << "a refused import leaked a descriptor";
  importer.vk->monitor.Clear();
  EXPECT_EQ(importer.Counter(timeline), 1u) << "the semaphore keeps its own payload";
  EXPECT_EQ(importer.HostSignal(timeline, 2), VK_SUCCESS);
  EXPECT_EQ(exporter.Counter(shared), 3u) << "the shared payload is untouched";
  close(Fd(h));
  vkDestroySemaphore(importer.dev->device, timeline, nullptr);
  vkDestroySemaphore(exporter.dev->device, shared, nullptr);
  EXPECT_TRUE(importer.vk->monitor.Problems().empty()) << Describe(importer.vk->monitor.Problems());
  EXPECT_TRUE(exporter.vk->monitor.Problems().empty()) << Describe(exporter.vk->monitor.Problems());
}

}  // namespace
}  // namespace ntbridge::test
