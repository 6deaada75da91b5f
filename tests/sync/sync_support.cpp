#include "sync_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ntbridge::test {

SyncDevice::SyncDevice(const uint8_t* device_uuid)
    : SyncDevice(SyncDeviceOptions{.device_uuid = device_uuid}) {}

SyncDevice::SyncDevice(const SyncDeviceOptions& options) {
  const uint8_t* device_uuid = options.device_uuid;
  InstanceOptions instance_options;
  instance_options.api_version = VK_API_VERSION_1_2;
  instance_options.extensions = options.instance_extensions;
  vk = std::make_unique<VulkanInstance>(instance_options);
  if (device_uuid != nullptr && vk->instance != VK_NULL_HANDLE) {
    vk->gpu = VK_NULL_HANDLE;
    uint32_t count = 0;
    vkEnumeratePhysicalDevices(vk->instance, &count, nullptr);
    std::vector<VkPhysicalDevice> gpus(count);
    vkEnumeratePhysicalDevices(vk->instance, &count, gpus.data());
    for (VkPhysicalDevice gpu : gpus) {
      VkPhysicalDeviceIDProperties ids{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
      VkPhysicalDeviceProperties2 properties{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &ids};
      vkGetPhysicalDeviceProperties2(gpu, &properties);
      if (std::memcmp(ids.deviceUUID, device_uuid, VK_UUID_SIZE) == 0) vk->gpu = gpu;
    }
    vk->error = vk->ok() ? "" : "no Vulkan physical device has the requested deviceUUID";
  }
  if (!vk->ok()) {
    error = vk->error;
    return;
  }
  std::vector<const char*> extensions{"VK_KHR_external_semaphore_win32", "VK_KHR_external_fence_win32",
                                      "VK_KHR_external_memory_win32"};
  extensions.insert(extensions.end(), options.device_extensions.begin(), options.device_extensions.end());
  VkDeviceGroupDeviceCreateInfo group_info{VK_STRUCTURE_TYPE_DEVICE_GROUP_DEVICE_CREATE_INFO};
  std::vector<VkPhysicalDevice> group;
  if (options.device_group) {
    uint32_t count = 0;
    vkEnumeratePhysicalDeviceGroups(vk->instance, &count, nullptr);
    std::vector<VkPhysicalDeviceGroupProperties> groups(count,
                                                        {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_GROUP_PROPERTIES});
    vkEnumeratePhysicalDeviceGroups(vk->instance, &count, groups.data());
    for (const auto& g : groups) {
      if (std::find(g.physicalDevices, g.physicalDevices + g.physicalDeviceCount, vk->gpu) !=
          g.physicalDevices + g.physicalDeviceCount) {
        group.assign(g.physicalDevices, g.physicalDevices + g.physicalDeviceCount);
      }
    }
    if (group.empty()) {
      error = "vkEnumeratePhysicalDeviceGroups listed no group holding the test's physical device";
      return;
    }
    group_info.physicalDeviceCount = static_cast<uint32_t>(group.size());
    group_info.pPhysicalDevices = group.data();
    group_size = group_info.physicalDeviceCount;
  }
  VkPhysicalDeviceSynchronization2Features sync2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SYNCHRONIZATION_2_FEATURES,
                                                 nullptr, VK_TRUE};
  const void* chain = nullptr;
  if (options.synchronization2) {
    extensions.push_back(VK_KHR_SYNCHRONIZATION_2_EXTENSION_NAME);
    chain = &sync2;
  }
  if (options.device_group) {
    group_info.pNext = chain;
    chain = &group_info;
  }
  dev = std::make_unique<VulkanDevice>(*vk, extensions, chain);
  if (dev->device == VK_NULL_HANDLE) {
    error = "vkCreateDevice with the sync extensions failed: " + std::to_string(dev->create_result);
    return;
  }
  auto load = [&](const char* name) { return vkGetDeviceProcAddr(dev->device, name); };
  GetSemaphoreWin32HandleKHR =
      reinterpret_cast<PFN_vkGetSemaphoreWin32HandleKHR>(load("vkGetSemaphoreWin32HandleKHR"));
  ImportSemaphoreWin32HandleKHR =
      reinterpret_cast<PFN_vkImportSemaphoreWin32HandleKHR>(load("vkImportSemaphoreWin32HandleKHR"));
  GetFenceWin32HandleKHR = reinterpret_cast<PFN_vkGetFenceWin32HandleKHR>(load("vkGetFenceWin32HandleKHR"));
  ImportFenceWin32HandleKHR =
      reinterpret_cast<PFN_vkImportFenceWin32HandleKHR>(load("vkImportFenceWin32HandleKHR"));
}

SyncDevice::~SyncDevice() {
  if (dev && dev->device != VK_NULL_HANDLE) vkDeviceWaitIdle(dev->device);
}

VkSemaphore SyncDevice::Semaphore(VkSemaphoreType type, uint64_t initial,
                                  VkExternalSemaphoreHandleTypeFlags export_types,
                                  const VkExportSemaphoreWin32HandleInfoKHR* win32, VkResult* result) {
  VkSemaphoreTypeCreateInfo t{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr, type, initial};
  VkExportSemaphoreCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, win32, export_types};
  if (export_types != 0 || win32 != nullptr) t.pNext = &e;
  VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &t, 0};
  VkSemaphore s = VK_NULL_HANDLE;
  VkResult r = vkCreateSemaphore(dev->device, &info, nullptr, &s);
  if (result != nullptr) {
    *result = r;
  } else {
    EXPECT_EQ(r, VK_SUCCESS) << "vkCreateSemaphore";
  }
  return s;
}

VkFence SyncDevice::Fence(bool signalled, VkExternalFenceHandleTypeFlags export_types,
                          const VkExportFenceWin32HandleInfoKHR* win32, VkResult* result) {
  VkExportFenceCreateInfo e{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, win32, export_types};
  VkFenceCreateInfo info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO,
                         (export_types != 0 || win32 != nullptr) ? &e : nullptr,
                         signalled ? VkFenceCreateFlags(VK_FENCE_CREATE_SIGNALED_BIT) : 0u};
  VkFence f = VK_NULL_HANDLE;
  VkResult r = vkCreateFence(dev->device, &info, nullptr, &f);
  if (result != nullptr) {
    *result = r;
  } else {
    EXPECT_EQ(r, VK_SUCCESS) << "vkCreateFence";
  }
  return f;
}

HANDLE SyncDevice::SemaphoreHandle(VkSemaphore sem, VkExternalSemaphoreHandleTypeFlagBits type,
                                   VkResult* result) {
  VkSemaphoreGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR, nullptr, sem,
                                        type};
  HANDLE h = nullptr;
  VkResult r = GetSemaphoreWin32HandleKHR(dev->device, &info, &h);
  if (result != nullptr) {
    *result = r;
  } else {
    EXPECT_EQ(r, VK_SUCCESS) << "vkGetSemaphoreWin32HandleKHR";
  }
  return h;
}

HANDLE SyncDevice::FenceHandle(VkFence f, VkExternalFenceHandleTypeFlagBits type, VkResult* result) {
  VkFenceGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_FENCE_GET_WIN32_HANDLE_INFO_KHR, nullptr, f, type};
  HANDLE h = nullptr;
  VkResult r = GetFenceWin32HandleKHR(dev->device, &info, &h);
  if (result != nullptr) {
    *result = r;
  } else {
    EXPECT_EQ(r, VK_SUCCESS) << "vkGetFenceWin32HandleKHR";
  }
  return h;
}

VkResult SyncDevice::ImportSemaphore(VkSemaphore sem, VkExternalSemaphoreHandleTypeFlagBits type,
                                     HANDLE handle, LPCWSTR name, VkSemaphoreImportFlags flags) {
  VkImportSemaphoreWin32HandleInfoKHR info{
      VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr, sem, flags, type, handle, name};
  return ImportSemaphoreWin32HandleKHR(dev->device, &info);
}

VkResult SyncDevice::ImportFence(VkFence f, VkExternalFenceHandleTypeFlagBits type, HANDLE handle,
                                 LPCWSTR name, VkFenceImportFlags flags) {
  VkImportFenceWin32HandleInfoKHR info{
      VK_STRUCTURE_TYPE_IMPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr, f, flags, type, handle, name};
  return ImportFenceWin32HandleKHR(dev->device, &info);
}

VkResult SyncDevice::Submit(const std::vector<Op>& waits, const std::vector<Op>& signals, VkFence fence,
                            const std::vector<VkCommandBuffer>& commands, const void* pnext) {
  std::vector<VkSemaphore> ws, ss;
  std::vector<uint64_t> wv, sv;
  std::vector<VkPipelineStageFlags> stages;
  for (const Op& o : waits) {
    ws.push_back(o.semaphore);
    wv.push_back(o.value);
    stages.push_back(VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
  }
  for (const Op& o : signals) {
    ss.push_back(o.semaphore);
    sv.push_back(o.value);
  }
  VkTimelineSemaphoreSubmitInfo t{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
                                  pnext,
                                  static_cast<uint32_t>(wv.size()),
                                  wv.data(),
                                  static_cast<uint32_t>(sv.size()),
                                  sv.data()};
  VkSubmitInfo info{VK_STRUCTURE_TYPE_SUBMIT_INFO, &t};
  info.waitSemaphoreCount = static_cast<uint32_t>(ws.size());
  info.pWaitSemaphores = ws.data();
  info.pWaitDstStageMask = stages.data();
  info.commandBufferCount = static_cast<uint32_t>(commands.size());
  info.pCommandBuffers = commands.data();
  info.signalSemaphoreCount = static_cast<uint32_t>(ss.size());
  info.pSignalSemaphores = ss.data();
  return vkQueueSubmit(dev->queue, 1, &info, fence);
}

VkResult SyncDevice::Submit2(const std::vector<Op>& waits, const std::vector<Op>& signals, VkFence fence,
                             const std::vector<VkCommandBuffer>& commands, uint32_t device_mask) {
  auto submit2 =
      reinterpret_cast<PFN_vkQueueSubmit2KHR>(vkGetDeviceProcAddr(dev->device, "vkQueueSubmit2KHR"));
  if (submit2 == nullptr) return VK_ERROR_EXTENSION_NOT_PRESENT;
  std::vector<VkSemaphoreSubmitInfo> w, s;
  for (const Op& o : waits) {
    w.push_back({VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO, nullptr, o.semaphore, o.value,
                 VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT, o.device_index});
  }
  for (const Op& o : signals) {
    s.push_back({VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO, nullptr, o.semaphore, o.value,
                 VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT, o.device_index});
  }
  std::vector<VkCommandBufferSubmitInfo> c;
  for (VkCommandBuffer command : commands) {
    c.push_back({VK_STRUCTURE_TYPE_COMMAND_BUFFER_SUBMIT_INFO, nullptr, command, device_mask});
  }
  VkSubmitInfo2 info{VK_STRUCTURE_TYPE_SUBMIT_INFO_2};
  info.waitSemaphoreInfoCount = static_cast<uint32_t>(w.size());
  info.pWaitSemaphoreInfos = w.data();
  info.commandBufferInfoCount = static_cast<uint32_t>(c.size());
  info.pCommandBufferInfos = c.data();
  info.signalSemaphoreInfoCount = static_cast<uint32_t>(s.size());
  info.pSignalSemaphoreInfos = s.data();
  return submit2(dev->queue, 1, &info, fence);
}

uint64_t SyncDevice::Counter(VkSemaphore sem) {
  uint64_t v = ~0ull;
  EXPECT_EQ(vkGetSemaphoreCounterValue(dev->device, sem, &v), VK_SUCCESS);
  return v;
}

VkResult SyncDevice::HostSignal(VkSemaphore sem, uint64_t value) {
  VkSemaphoreSignalInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, sem, value};
  return vkSignalSemaphore(dev->device, &info);
}

VkResult SyncDevice::HostWait(VkSemaphore sem, uint64_t value, uint64_t timeout_ns) {
  VkSemaphoreWaitInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, nullptr, 0, 1, &sem, &value};
  return vkWaitSemaphores(dev->device, &info, timeout_ns);
}

VkResult SyncDevice::WaitFence(VkFence f, uint64_t timeout_ns) {
  return vkWaitForFences(dev->device, 1, &f, VK_TRUE, timeout_ns);
}

bool SyncDevice::DriverPayload() {
  VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO,
                                             nullptr, kSemNt};
  VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
  vkGetPhysicalDeviceExternalSemaphoreProperties(vk->gpu, &info, &props);
  return (props.compatibleHandleTypes & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) != 0;
}

bool SyncDevice::Lavapipe() {
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceProperties2 properties{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &driver};
  vkGetPhysicalDeviceProperties2(vk->gpu, &properties);
  return driver.driverID == VK_DRIVER_ID_MESA_LLVMPIPE;
}

bool DriverHasExternalTimelineFd(VkPhysicalDevice gpu) {
  VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr,
                                 VK_SEMAPHORE_TYPE_TIMELINE, 0};
  VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO, &type,
                                             VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT};
  VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
  vkGetPhysicalDeviceExternalSemaphoreProperties(gpu, &info, &props);
  const uint32_t both =
      VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
  return (props.externalSemaphoreFeatures & both) == both;
}

CommandRecorder::CommandRecorder(VulkanDevice& dev) : dev_(dev) {
  VkCommandPoolCreateInfo info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  info.queueFamilyIndex = dev.queue_family;
  EXPECT_EQ(vkCreateCommandPool(dev.device, &info, nullptr, &pool_), VK_SUCCESS);
}

CommandRecorder::~CommandRecorder() {
  vkDeviceWaitIdle(dev_.device);
  if (!commands_.empty()) {
    vkFreeCommandBuffers(dev_.device, pool_, static_cast<uint32_t>(commands_.size()), commands_.data());
  }
  vkDestroyCommandPool(dev_.device, pool_, nullptr);
}

VkCommandBuffer CommandRecorder::Record(const std::function<void(VkCommandBuffer)>& record) {
  VkCommandBufferAllocateInfo allocate{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr, pool_,
                                       VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
  VkCommandBuffer c = VK_NULL_HANDLE;
  EXPECT_EQ(vkAllocateCommandBuffers(dev_.device, &allocate, &c), VK_SUCCESS);
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  vkBeginCommandBuffer(c, &begin);
  record(c);
  vkEndCommandBuffer(c);
  commands_.push_back(c);
  return c;
}

void SyncTest::SetUp() {
  s = std::make_unique<SyncDevice>();
  ASSERT_TRUE(s->ok()) << s->error;
}

void SyncTest::TearDown() {
  if (!s || !s->vk) return;
  auto problems = s->vk->monitor.Problems();
  EXPECT_TRUE(problems.empty()) << "unexpected messages:" << Describe(problems);
  s.reset();
}

std::wstring UniqueName(const char* tag) {
  static std::atomic<int> n{0};
  std::string t =
      std::string("Local\\ntbridge-test-") + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  return std::wstring(t.begin(), t.end());
}

std::string Narrow(const std::wstring& w) { return std::string(w.begin(), w.end()); }

int SyncChild::Wait() {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

SyncChild StartSyncChild(const std::vector<std::string>& args) {
  const char* program = std::getenv("NTBRIDGE_SYNC_CHILD");
  std::vector<std::string> all = {program != nullptr ? program : "ntbridge_sync_child"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  SyncChild c;
  c.pid = fork();
  if (c.pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  return c;
}

}  // namespace ntbridge::test
