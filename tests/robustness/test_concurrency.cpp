// 8 threads share one device: export, get handle, import and free in a loop, NT and KMT mixed, with invalid
// calls whose debug-utils callbacks call back into Vulkan. No error, no deadlock, no leaked descriptor.
// Each thread runs NTBRIDGE_STRESS_ITERATIONS rounds (default 10000) or until NTBRIDGE_STRESS_SECONDS pass.
// And threads importing one NT handle at once: none of those imports fails.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "stress_budget.hpp"
#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 64 * 1024;
constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
constexpr auto kKmt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

constexpr int kThreads = 8;

struct Reentry {
  VulkanDevice* dev = nullptr;
  std::atomic<int> callbacks{0};
  std::atomic<int> reentered{0};
};

thread_local int g_depth = 0;

// A messenger callback that calls back into Vulkan (through the layer) while a report is being delivered.
VKAPI_ATTR VkBool32 VKAPI_CALL CallBackIntoVulkan(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                  VkDebugUtilsMessageTypeFlagsEXT,
                                                  const VkDebugUtilsMessengerCallbackDataEXT*, void* user) {
  auto* r = static_cast<Reentry*>(user);
  r->callbacks.fetch_add(1, std::memory_order_relaxed);
  if (g_depth > 0) return VK_FALSE;
  ++g_depth;
  VkPhysicalDeviceExternalBufferInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
  info.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  info.handleType = kNt;
  VkExternalBufferProperties props{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
  vkGetPhysicalDeviceExternalBufferProperties(r->dev->owner.gpu, &info, &props);
  // A second report from inside the callback: the reporter must not hold a lock while calling out.
  VkMemoryGetWin32HandleInfoKHR bad{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                    VK_NULL_HANDLE, kNt};
  HANDLE h = nullptr;
  r->dev->GetMemoryWin32HandleKHR(r->dev->device, &bad, &h);
  r->reentered.fetch_add(1, std::memory_order_relaxed);
  --g_depth;
  return VK_FALSE;
}

class Concurrency : public LayerTest {};

TEST_F(Concurrency, EightThreadsShareOneDevice) {
  // KMT needs the broker; the first KMT export tells whether this build has one.
  bool kmt = false;
  {
    VkDeviceMemory m = dev->AllocateExportable(kSize, kNt | kKmt);
    VkResult r = VK_SUCCESS;
    dev->GetHandle(m, kKmt, &r);
    kmt = r == VK_SUCCESS;
    dev->Free(m);
    vk->monitor.Clear();
  }
  if (!kmt)
    std::fprintf(stderr, "note: KMT handles unavailable (no broker): the NT path alone is exercised\n");

  Reentry reentry;
  reentry.dev = dev.get();
  VkDebugUtilsMessengerCreateInfoEXT info{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT;
  info.pfnUserCallback = &CallBackIntoVulkan;
  info.pUserData = &reentry;
  auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(vk->instance, "vkCreateDebugUtilsMessengerEXT"));
  auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(vk->instance, "vkDestroyDebugUtilsMessengerEXT"));
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  ASSERT_EQ(create(vk->instance, &info, nullptr, &messenger), VK_SUCCESS);

  // At least 128 rounds per thread, so each thread makes its invalid calls (every 64th round) twice.
  StressBudget budget("8 threads, export/get/import/free rounds", 10000, 128, /*count_from_env=*/true);
  const int fds_before = CountOpenFds();
  std::atomic<int> failures{0};
  std::atomic<int> invalid_calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; budget.Continue(i) && failures.load() < 10; ++i) {
        VkExternalMemoryHandleTypeFlags types = kNt | (kmt ? kKmt : 0);
        VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr, types};
        VkDeviceMemory exported = VK_NULL_HANDLE;
        if (dev->Allocate(kSize, dev->HostVisibleType(), &export_info, &exported) != VK_SUCCESS) {
          failures.fetch_add(1);
          continue;
        }
        const bool use_kmt = kmt && (i + t) % 4 == 0;
        VkMemoryGetWin32HandleInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                          exported, use_kmt ? kKmt : kNt};
        HANDLE handle = nullptr;
        if (dev->GetMemoryWin32HandleKHR(dev->device, &get, &handle) != VK_SUCCESS) failures.fetch_add(1);
        VkImportMemoryWin32HandleInfoKHR import_info{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
                                                     nullptr, use_kmt ? kKmt : kNt, handle, nullptr};
        VkDeviceMemory imported = VK_NULL_HANDLE;
        if (dev->Allocate(kSize, dev->HostVisibleType(), &import_info, &imported) != VK_SUCCESS) {
          failures.fetch_add(1);
        }
        if (i % 64 == 0) {
          // An invalid call: a second NT handle for the same memory (00663), reported through the callback.
          VkMemoryGetWin32HandleInfoKHR again = get;
          again.handleType = kNt;
          HANDLE h1 = nullptr, h2 = nullptr;
          if (!use_kmt && dev->GetMemoryWin32HandleKHR(dev->device, &again, &h2) == VK_SUCCESS)
            failures.fetch_add(1);
          if (use_kmt) {
            dev->GetMemoryWin32HandleKHR(dev->device, &again, &h1);
            if (dev->GetMemoryWin32HandleKHR(dev->device, &again, &h2) == VK_SUCCESS) failures.fetch_add(1);
            if (h1 != nullptr) close(static_cast<int>(reinterpret_cast<intptr_t>(h1)));
          }
          invalid_calls.fetch_add(1);
        }
        vkFreeMemory(dev->device, imported, nullptr);
        vkFreeMemory(dev->device, exported, nullptr);
        if (!use_kmt && handle != nullptr) close(static_cast<int>(reinterpret_cast<intptr_t>(handle)));
        budget.Completed();
      }
    });
  }
  for (auto& th : threads) th.join();
  destroy(vk->instance, messenger, nullptr);
  budget.Report();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(budget.completed(), kThreads * budget.floor());
  EXPECT_GE(invalid_calls.load(), kThreads * ((budget.floor() + 63) / 64));
  EXPECT_EQ(CountOpenFds(), fds_before) << "descriptors leaked";
  // Every invalid call was reported, and each report reached the callback, which re-entered the layer.
  EXPECT_GE(reentry.reentered.load(), invalid_calls.load());
  auto messages = vk->monitor.Take();
  for (const auto& m : messages) {
    EXPECT_TRUE(m.id == "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663" ||
                m.id == "VUID-VkMemoryGetWin32HandleInfoKHR-memory-parameter")
        << "unexpected message [" << m.id << "] " << m.text;
  }
}

// 8 threads import one NT handle at the same time, over and over. The layer gives the driver a duplicate of
// the handle, so every import reads the payload through one open file description, and lavapipe reads a
// memfd payload's header through that description's shared file offset: one thread can move it under another,
// and lavapipe refuses that import. The layer retries such an import with a description of its own (opened
// through the application's handle), so none fails.
TEST_F(Concurrency, ThreadsImportingOneNtHandleAtOnceNeverFail) {
  constexpr VkDeviceSize kShared = 1 << 20;
  VkDeviceMemory exported = dev->AllocateExportable(kShared, kNt);
  ASSERT_NE(exported, VK_NULL_HANDLE);
  dev->WriteU32(exported, 0xC0FFEE);
  HANDLE handle = dev->GetHandle(exported, kNt);
  ASSERT_NE(handle, nullptr);
  const int fds_before = CountOpenFds();
  StressBudget budget("8 threads importing one NT handle", 2000, 50);
  std::atomic<int> failures{0};
  std::atomic<VkResult> last{VK_SUCCESS};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; budget.Continue(i); ++i) {
        budget.Completed();
        VkResult r = VK_SUCCESS;
        VkDeviceMemory imported = dev->ImportHandle(kShared, kNt, handle, nullptr, &r);
        if (r == VK_SUCCESS && dev->ReadU32(imported) != 0xC0FFEEu) r = VK_ERROR_UNKNOWN;
        if (imported != VK_NULL_HANDLE) dev->Free(imported);
        if (r != VK_SUCCESS) {
          failures.fetch_add(1);
          last.store(r);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  budget.Report();
  EXPECT_EQ(failures.load(), 0) << "of " << budget.completed() << " imports; last VkResult " << last.load();
  EXPECT_EQ(CountOpenFds(), fds_before) << "descriptors leaked";
  // lavapipe reports the imports it refused at first (the layer retried them); nothing else may be said.
  int refused = 0;
  for (const auto& m : vk->monitor.Problems()) {
    const std::string said = m.id + " " + m.text;
    if (said.find("lvp_device.c") != std::string::npos &&
        said.find("VK_ERROR_INVALID_EXTERNAL_HANDLE") != std::string::npos) {
      ++refused;
    } else {
      ADD_FAILURE() << "unexpected message [" << m.id << "] " << m.text;
    }
  }
  std::printf("%d imports of one NT handle by 8 threads: %d refused by the driver at first, retried\n",
              budget.completed(), refused);
  close(static_cast<int>(reinterpret_cast<intptr_t>(handle)));
  dev->Free(exported);
}

}  // namespace
}  // namespace ntbridge::test
