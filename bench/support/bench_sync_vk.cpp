#include "bench_sync_vk.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

namespace ntbridge::bench {
namespace {

constexpr VkExternalSemaphoreFeatureFlags kSemBoth =
    VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
constexpr VkExternalFenceFeatureFlags kFenceBoth =
    VK_EXTERNAL_FENCE_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_FENCE_FEATURE_IMPORTABLE_BIT;

bool TimelineExportable(VkPhysicalDevice gpu, VkExternalSemaphoreHandleTypeFlagBits type) {
  VkSemaphoreTypeCreateInfo timeline{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr,
                                     VK_SEMAPHORE_TYPE_TIMELINE, 0};
  VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO,
                                             &timeline, type};
  VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
  vkGetPhysicalDeviceExternalSemaphoreProperties(gpu, &info, &props);
  return (props.externalSemaphoreFeatures & kSemBoth) == kSemBoth;
}

bool FenceExportable(VkPhysicalDevice gpu, VkExternalFenceHandleTypeFlagBits type) {
  VkPhysicalDeviceExternalFenceInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_FENCE_INFO, nullptr,
                                         type};
  VkExternalFenceProperties props{VK_STRUCTURE_TYPE_EXTERNAL_FENCE_PROPERTIES};
  vkGetPhysicalDeviceExternalFenceProperties(gpu, &info, &props);
  return (props.externalFenceFeatures & kFenceBoth) == kFenceBoth;
}

}  // namespace

SyncSide::SyncSide(Side s) : side(s) {
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "ntbridge-bench-sync";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  const char* layers[] = {kLayer};
  if (side == Side::kWin32) {
    info.enabledLayerCount = 1;
    info.ppEnabledLayerNames = layers;
  }
  VkResult r = vkCreateInstance(&info, nullptr, &instance);
  if (r != VK_SUCCESS) {
    Die(std::string("vkCreateInstance (") + SideName(side) + " side) failed: " + std::to_string(r));
  }
  gpu = PickDevice(instance);
  if (gpu == VK_NULL_HANDLE) Die("no Vulkan physical device (NTBRIDGE_BENCH_DEVICE?)");
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &driver};
  vkGetPhysicalDeviceProperties2(gpu, &props);
  device_name = props.properties.deviceName;
  driver_info = std::string(driver.driverName) + " " + driver.driverInfo;
  if (props.properties.apiVersion < VK_API_VERSION_1_2) Die(device_name + " is not a Vulkan 1.2 device");

  std::vector<const char*> extensions;
  if (side == Side::kWin32) {
    for (const char* e :
         {VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME, VK_KHR_EXTERNAL_FENCE_WIN32_EXTENSION_NAME}) {
      if (!HasDeviceExtension(gpu, e)) Die(device_name + " does not offer " + e + " through the layer");
      extensions.push_back(e);
    }
    exports_semaphores = exports_fences = true;
  } else {
    if (HasDeviceExtension(gpu, VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME)) {
      Die("the fd side sees VK_KHR_external_semaphore_win32: a layer is enabled where none should be");
    }
    if (!HasDeviceExtension(gpu, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME)) {
      why_not_semaphores = "the driver (" + driver_info + ") has no VK_KHR_external_semaphore_fd";
    } else if (!TimelineExportable(gpu, kSemFd)) {
      why_not_semaphores = "the driver (" + driver_info + ") exports no timeline semaphore as OPAQUE_FD";
    } else {
      extensions.push_back(VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
      exports_semaphores = true;
    }
    if (!HasDeviceExtension(gpu, VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME)) {
      why_not_fences = "the driver (" + driver_info + ") has no VK_KHR_external_fence_fd";
    } else if (!FenceExportable(gpu, kFenceFd)) {
      why_not_fences = "the driver (" + driver_info + ") exports no fence as OPAQUE_FD";
    } else {
      extensions.push_back(VK_KHR_EXTERNAL_FENCE_FD_EXTENSION_NAME);
      exports_fences = true;
    }
  }

  // The first queue family that can run a transfer command (every graphics or compute family can).
  uint32_t family_count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(gpu, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  vkGetPhysicalDeviceQueueFamilyProperties(gpu, &family_count, families.data());
  uint32_t family = 0;
  while (family < family_count &&
         !(families[family].queueFlags & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT))) {
    ++family;
  }
  if (family == family_count) Die("no graphics or compute queue family");
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue_info.queueFamilyIndex = family;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  VkPhysicalDeviceVulkan12Features v12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  v12.timelineSemaphore = VK_TRUE;
  VkDeviceCreateInfo dinfo{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &v12};
  dinfo.queueCreateInfoCount = 1;
  dinfo.pQueueCreateInfos = &queue_info;
  dinfo.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  dinfo.ppEnabledExtensionNames = extensions.data();
  r = vkCreateDevice(gpu, &dinfo, nullptr, &device);
  if (r != VK_SUCCESS)
    Die(std::string("vkCreateDevice (") + SideName(side) + ") failed: " + std::to_string(r));
  vkGetDeviceQueue(device, family, 0, &queue);

  Load(device, CreateSemaphore, "vkCreateSemaphore");
  Load(device, DestroySemaphore, "vkDestroySemaphore");
  Load(device, SignalSemaphore, "vkSignalSemaphore");
  Load(device, WaitSemaphores, "vkWaitSemaphores");
  Load(device, CreateFence, "vkCreateFence");
  Load(device, DestroyFence, "vkDestroyFence");
  Load(device, WaitForFences, "vkWaitForFences");
  Load(device, ResetFences, "vkResetFences");
  Load(device, QueueSubmit, "vkQueueSubmit");
  if (side == Side::kWin32) {
    Load(device, GetSemaphoreWin32HandleKHR, "vkGetSemaphoreWin32HandleKHR");
    Load(device, ImportSemaphoreWin32HandleKHR, "vkImportSemaphoreWin32HandleKHR");
    Load(device, GetFenceWin32HandleKHR, "vkGetFenceWin32HandleKHR");
    Load(device, ImportFenceWin32HandleKHR, "vkImportFenceWin32HandleKHR");
    if (!GetSemaphoreWin32HandleKHR || !ImportSemaphoreWin32HandleKHR || !GetFenceWin32HandleKHR ||
        !ImportFenceWin32HandleKHR) {
      Die("the layer does not give the Win32 sync commands");
    }
  } else {
    if (exports_semaphores) {
      Load(device, GetSemaphoreFdKHR, "vkGetSemaphoreFdKHR");
      Load(device, ImportSemaphoreFdKHR, "vkImportSemaphoreFdKHR");
    }
    if (exports_fences) {
      Load(device, GetFenceFdKHR, "vkGetFenceFdKHR");
      Load(device, ImportFenceFdKHR, "vkImportFenceFdKHR");
    }
  }
  RecordWork(family);
}

void SyncSide::RecordWork(uint32_t family) {
  constexpr VkDeviceSize kSize = 64 << 10;
  VkBufferCreateInfo binfo{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  binfo.size = kSize;
  binfo.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  if (vkCreateBuffer(device, &binfo, nullptr, &buffer_) != VK_SUCCESS) Die("vkCreateBuffer failed");
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device, buffer_, &req);
  uint32_t type = 0;
  while (type < 32 && !(req.memoryTypeBits & (1u << type))) ++type;
  VkMemoryAllocateInfo ainfo{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, nullptr, req.size, type};
  if (vkAllocateMemory(device, &ainfo, nullptr, &memory_) != VK_SUCCESS) Die("vkAllocateMemory failed");
  vkBindBufferMemory(device, buffer_, memory_, 0);
  VkCommandPoolCreateInfo pinfo{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, nullptr, 0, family};
  if (vkCreateCommandPool(device, &pinfo, nullptr, &pool_) != VK_SUCCESS) Die("vkCreateCommandPool failed");
  VkCommandBufferAllocateInfo cinfo{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr, pool_,
                                    VK_COMMAND_BUFFER_LEVEL_PRIMARY, 2};
  VkCommandBuffer buffers[2];
  if (vkAllocateCommandBuffers(device, &cinfo, buffers) != VK_SUCCESS) Die("vkAllocateCommandBuffers failed");
  work = buffers[0];
  tiny = buffers[1];
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  vkBeginCommandBuffer(work, &begin);
  vkCmdFillBuffer(work, buffer_, 0, kSize, 0x5a5a5a5a);
  vkEndCommandBuffer(work);
  begin.flags = VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT;
  vkBeginCommandBuffer(tiny, &begin);
  vkCmdFillBuffer(tiny, buffer_, 0, 4, 0x5a5a5a5a);
  vkEndCommandBuffer(tiny);
}

SyncSide::~SyncSide() {
  if (device != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(device);
    if (pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device, pool_, nullptr);
    if (buffer_ != VK_NULL_HANDLE) vkDestroyBuffer(device, buffer_, nullptr);
    if (memory_ != VK_NULL_HANDLE) vkFreeMemory(device, memory_, nullptr);
    vkDestroyDevice(device, nullptr);
  }
  if (instance != VK_NULL_HANDLE) vkDestroyInstance(instance, nullptr);
}

VkSemaphore SyncSide::Timeline(bool exportable, uint64_t initial, VkResult* result, const wchar_t* name) {
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            nullptr, 0, name};
  VkExportSemaphoreCreateInfo exp{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO,
                                  name != nullptr ? &win32 : nullptr,
                                  side == Side::kWin32 ? VkExternalSemaphoreHandleTypeFlags(kSemNt)
                                                       : VkExternalSemaphoreHandleTypeFlags(kSemFd)};
  VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, exportable ? &exp : nullptr,
                                 VK_SEMAPHORE_TYPE_TIMELINE, initial};
  VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &type, 0};
  VkSemaphore s = VK_NULL_HANDLE;
  Sink(result) = CreateSemaphore(device, &info, nullptr, &s);
  return s;
}

VkFence SyncSide::Fence(bool exportable, VkResult* result) {
  VkExportFenceCreateInfo exp{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, nullptr,
                              side == Side::kWin32 ? VkExternalFenceHandleTypeFlags(kFenceNt)
                                                   : VkExternalFenceHandleTypeFlags(kFenceFd)};
  VkFenceCreateInfo info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, exportable ? &exp : nullptr, 0};
  VkFence f = VK_NULL_HANDLE;
  Sink(result) = CreateFence(device, &info, nullptr, &f);
  return f;
}

int SyncSide::ExportSemaphore(VkSemaphore semaphore, VkResult* result) {
  if (side == Side::kWin32) {
    VkSemaphoreGetWin32HandleInfoKHR get{VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                         semaphore, kSemNt};
    HANDLE h = nullptr;
    VkResult r = Sink(result) = GetSemaphoreWin32HandleKHR(device, &get, &h);
    return r == VK_SUCCESS ? static_cast<int>(reinterpret_cast<intptr_t>(h)) : -1;
  }
  VkSemaphoreGetFdInfoKHR get{VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR, nullptr, semaphore, kSemFd};
  int fd = -1;
  VkResult r = Sink(result) = GetSemaphoreFdKHR(device, &get, &fd);
  return r == VK_SUCCESS ? fd : -1;
}

int SyncSide::ExportFence(VkFence fence, VkResult* result) {
  if (side == Side::kWin32) {
    VkFenceGetWin32HandleInfoKHR get{VK_STRUCTURE_TYPE_FENCE_GET_WIN32_HANDLE_INFO_KHR, nullptr, fence,
                                     kFenceNt};
    HANDLE h = nullptr;
    VkResult r = Sink(result) = GetFenceWin32HandleKHR(device, &get, &h);
    return r == VK_SUCCESS ? static_cast<int>(reinterpret_cast<intptr_t>(h)) : -1;
  }
  VkFenceGetFdInfoKHR get{VK_STRUCTURE_TYPE_FENCE_GET_FD_INFO_KHR, nullptr, fence, kFenceFd};
  int fd = -1;
  VkResult r = Sink(result) = GetFenceFdKHR(device, &get, &fd);
  return r == VK_SUCCESS ? fd : -1;
}

VkResult SyncSide::ImportSemaphoreKeep(VkSemaphore semaphore, int fd) {
  if (side == Side::kWin32) {
    VkImportSemaphoreWin32HandleInfoKHR imp{
        VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr, semaphore, 0, kSemNt,
        reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd)),      nullptr};
    return ImportSemaphoreWin32HandleKHR(device, &imp);
  }
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return VK_ERROR_TOO_MANY_OBJECTS;
  VkImportSemaphoreFdInfoKHR imp{
      VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR, nullptr, semaphore, 0, kSemFd, copy};
  VkResult r = ImportSemaphoreFdKHR(device, &imp);
  if (r != VK_SUCCESS) close(copy);  // the driver consumes the fd only on success
  return r;
}

VkResult SyncSide::ImportFenceKeep(VkFence fence, int fd) {
  if (side == Side::kWin32) {
    VkImportFenceWin32HandleInfoKHR imp{
        VK_STRUCTURE_TYPE_IMPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr, fence, 0, kFenceNt,
        reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd)),  nullptr};
    return ImportFenceWin32HandleKHR(device, &imp);
  }
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return VK_ERROR_TOO_MANY_OBJECTS;
  VkImportFenceFdInfoKHR imp{VK_STRUCTURE_TYPE_IMPORT_FENCE_FD_INFO_KHR, nullptr, fence, 0, kFenceFd, copy};
  VkResult r = ImportFenceFdKHR(device, &imp);
  if (r != VK_SUCCESS) close(copy);
  return r;
}

VkResult SyncSide::ImportSemaphoreName(VkSemaphore semaphore, const wchar_t* name) {
  VkImportSemaphoreWin32HandleInfoKHR imp{
      VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr, semaphore, 0, kSemNt, nullptr, name};
  return ImportSemaphoreWin32HandleKHR(device, &imp);
}

VkResult SyncSide::Signal(VkSemaphore semaphore, uint64_t value) {
  VkSemaphoreSignalInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, semaphore, value};
  return SignalSemaphore(device, &info);
}

VkResult SyncSide::Wait(VkSemaphore semaphore, uint64_t value, uint64_t timeout_ns) {
  VkSemaphoreWaitInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, nullptr, 0, 1, &semaphore, &value};
  return WaitSemaphores(device, &info, timeout_ns);
}

VkResult SyncSide::Submit(VkSemaphore wait, uint64_t wait_value, VkCommandBuffer command_buffer,
                          VkSemaphore signal, uint64_t signal_value, VkFence fence) {
  const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  VkTimelineSemaphoreSubmitInfo timeline{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  VkSubmitInfo info{VK_STRUCTURE_TYPE_SUBMIT_INFO, &timeline};
  if (wait != VK_NULL_HANDLE) {
    info.waitSemaphoreCount = 1;
    info.pWaitSemaphores = &wait;
    info.pWaitDstStageMask = &stage;
    timeline.waitSemaphoreValueCount = 1;
    timeline.pWaitSemaphoreValues = &wait_value;
  }
  if (command_buffer != VK_NULL_HANDLE) {
    info.commandBufferCount = 1;
    info.pCommandBuffers = &command_buffer;
  }
  if (signal != VK_NULL_HANDLE) {
    info.signalSemaphoreCount = 1;
    info.pSignalSemaphores = &signal;
    timeline.signalSemaphoreValueCount = 1;
    timeline.pSignalSemaphoreValues = &signal_value;
  }
  return QueueSubmit(queue, 1, &info, fence);
}

}  // namespace ntbridge::bench
