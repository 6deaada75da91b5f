#include "demo_semaphores.hpp"

#include <chrono>
#include <cstring>
#include <memory>

namespace ntbridge::tool {

Timeline::Timeline(VkDevice device, const void* pnext) : device_(device) {
  VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, pnext,
                                 VK_SEMAPHORE_TYPE_TIMELINE, 0};
  VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &type};
  CheckVk(vkCreateSemaphore(device, &info, nullptr, &semaphore_), "vkCreateSemaphore (timeline)",
          pnext != nullptr ? "run `ntbridge info` to see whether timeline semaphores can be exported" : "");
}

Timeline::~Timeline() {
  if (semaphore_ != VK_NULL_HANDLE) vkDestroySemaphore(device_, semaphore_, nullptr);
}

VkExternalSemaphoreHandleTypeFlagBits SemaphoreHandleType(DemoMode mode) {
  switch (mode) {
    case DemoMode::kKmt:
      return VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
    case DemoMode::kFd:
      return VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
    default:
      return VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  }
}

ExportedTimeline::ExportedTimeline(const Device& device, DemoMode mode, const std::wstring& wanted_name) {
  const VkExternalSemaphoreHandleTypeFlagBits type = SemaphoreHandleType(mode);
  if (mode == DemoMode::kFd) {
    VkExportSemaphoreCreateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, nullptr,
                                            static_cast<VkExternalSemaphoreHandleTypeFlags>(type)};
    timeline_ = std::make_unique<Timeline>(device.get(), &export_info);
    VkSemaphoreGetFdInfoKHR get_info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR, nullptr, timeline_->get(),
                                     type};
    int fd = -1;
    CheckVk(device.GetSemaphoreFdKHR(device.get(), &get_info, &fd), "vkGetSemaphoreFdKHR (OPAQUE_FD)", "");
    handle = NtHandle::FromFd(fd);
    return;
  }
  if (mode == DemoMode::kName) name = wanted_name;
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR};
  win32.dwAccess = GENERIC_ALL;
  win32.name = name.c_str();
  VkExportSemaphoreCreateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO,
                                          mode == DemoMode::kName ? &win32 : nullptr,
                                          static_cast<VkExternalSemaphoreHandleTypeFlags>(type)};
  timeline_ = std::make_unique<Timeline>(device.get(), &export_info);
  VkSemaphoreGetWin32HandleInfoKHR get_info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                            timeline_->get(), type};
  if (mode == DemoMode::kName) return;  // the semaphore object keeps its name alive
  HANDLE raw = nullptr;
  CheckVk(device.GetSemaphoreWin32HandleKHR(device.get(), &get_info, &raw),
          std::string("vkGetSemaphoreWin32HandleKHR (") +
              (mode == DemoMode::kKmt ? "OPAQUE_WIN32_KMT" : "OPAQUE_WIN32") + ")",
          mode == DemoMode::kKmt ? "KMT values need the ntbridged broker: see `ntbridge status`" : "");
  if (mode == DemoMode::kKmt) {
    kmt = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(raw));
  } else {
    handle = NtHandle(raw);
  }
}

void DescribeSemaphores(const ExportedTimeline& ready, const ExportedTimeline& freed, DemoSetup& setup) {
  const ExportedTimeline* both[2] = {&ready, &freed};
  for (int i = 0; i < 2; ++i) {
    setup.kmt[i] = both[i]->kmt;
    const std::wstring& name = both[i]->name;
    if (name.size() > NTBRIDGE_MAX_NAME) throw ToolError("a semaphore name is too long", "");
    std::wmemcpy(setup.name[i], name.c_str(), name.size() + 1);
  }
}

std::unique_ptr<Timeline> ImportTimeline(const Device& device, const DemoSetup& setup, DemoSemaphore which,
                                         const NtHandle& handle) {
  auto timeline = std::make_unique<Timeline>(device.get());
  const char* label = which == kReady ? "ready" : "free";
  if (setup.handle_type == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) {
    if (!handle) {
      throw ToolError(std::string("the producer sent no descriptor of the '") + label + "' semaphore",
                      "run both processes from the same ntbridge build");
    }
    NtHandle descriptor = handle.Duplicate();  // the driver takes the descriptor it imports, on success only
    VkImportSemaphoreFdInfoKHR import{
        VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR,  nullptr,        timeline->get(), 0,
        VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT, descriptor.fd()};
    CheckVk(device.ImportSemaphoreFdKHR(device.get(), &import),
            std::string("vkImportSemaphoreFdKHR (the '") + label + "' timeline semaphore, OPAQUE_FD)", "");
    descriptor.Release();
    return timeline;
  }
  VkImportSemaphoreWin32HandleInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR};
  import.semaphore = timeline->get();
  import.handleType = static_cast<VkExternalSemaphoreHandleTypeFlagBits>(setup.handle_type);
  std::string what;
  if (setup.handle_type == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) {
    import.handle = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(setup.kmt[which]));
    what = "KMT value " + std::to_string(setup.kmt[which]);
  } else if (setup.name[which][0] != L'\0') {
    import.name = setup.name[which];
    what = "a name";
  } else {
    import.handle = handle.get();
    what = "an NT handle";
  }
  CheckVk(device.ImportSemaphoreWin32HandleKHR(device.get(), &import),
          std::string("vkImportSemaphoreWin32HandleKHR (the '") + label + "' timeline semaphore, by " + what +
              ")",
          handle ? "" : "KMT values and names need the ntbridged broker: see `ntbridge status`");
  return timeline;
}

VkExternalSemaphoreProperties TimelineProperties(VkPhysicalDevice gpu,
                                                 VkExternalSemaphoreHandleTypeFlagBits type) {
  VkSemaphoreTypeCreateInfo timeline{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr,
                                     VK_SEMAPHORE_TYPE_TIMELINE, 0};
  VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO,
                                             &timeline, type};
  VkExternalSemaphoreProperties properties{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
  vkGetPhysicalDeviceExternalSemaphoreProperties(gpu, &info, &properties);
  return properties;
}

void RequireDriverTimelinePayload(VkPhysicalDevice gpu, const std::string& who) {
  const VkExternalSemaphoreProperties win32 =
      TimelineProperties(gpu, VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT);
  if (win32.compatibleHandleTypes & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT) return;
  const GpuFacts facts = QueryGpu(gpu);
  throw ToolError(
      who + " cannot run on " + facts.properties.deviceName +
          ": CUDA imports only semaphores its driver made " +
          "(an opaque fd of the NVIDIA driver), and this driver " +
          (facts.Has(VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME)
               ? "does not export timeline semaphores as OPAQUE_FD"
               : "has no VK_KHR_external_semaphore_fd") +
          ", so ntbridge shares its semaphores as its own shared payload (a memfd), which CUDA cannot import",
      "run it on the NVIDIA GPU CUDA uses (--device NVIDIA), or use the Vulkan consumer (--consumer vulkan)");
}

void WaitTimeline(VkDevice device, VkSemaphore semaphore, uint64_t value, const std::string& what,
                  const std::function<void()>& between, double seconds) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  VkSemaphoreWaitInfo wait{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, nullptr, 0, 1, &semaphore, &value};
  for (;;) {
    const VkResult result = vkWaitSemaphores(device, &wait, 100'000'000);  // 100 ms
    if (result == VK_SUCCESS) return;
    if (result != VK_TIMEOUT) CheckVk(result, "vkWaitSemaphores (" + what + ")", "");
    if (between) between();
    if (std::chrono::steady_clock::now() > give_up) {
      uint64_t reached = 0;
      vkGetSemaphoreCounterValue(device, semaphore, &reached);
      throw ToolError(what + ": the timeline semaphore is at " + std::to_string(reached) + " after " +
                          std::to_string(static_cast<int>(seconds)) + " s, waiting for " +
                          std::to_string(value),
                      "the other demo process has stopped signalling; look above for its error");
    }
  }
}

}  // namespace ntbridge::tool
