// The process the settings tests start with exec, so that the layer reads its settings afresh.
//
//   ntbridge_validation_child twice    with a messenger: fetch the NT handle of one memory twice (00663),
//   then
//                                      once with pHandle NULL
//   ntbridge_validation_child stderr   without a messenger: call vkGetMemoryWin32HandleKHR with NULL info
//   ntbridge_validation_child sync     with a messenger: break each *safe* rule of the sync extensions once,
//                                      then one that is not safe
//
// Prints "first=<VkResult> second=<VkResult> third=<VkResult> distinct=<0|1> ids=<id>,<id>..." (twice),
// "result=<VkResult>" (stderr), or one "<case> result=<VkResult> ... ids=<id>,..." line per case (sync) on
// stdout. Exit status: 0 done, 4 no Vulkan device, 64 usage.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "sync_support.hpp"
#include "vk_fixture.hpp"

namespace {

using ntbridge::test::VulkanDevice;
using ntbridge::test::VulkanInstance;

int Twice() {
  VulkanInstance vk;
  if (!vk.ok()) return 4;
  VulkanDevice dev(vk);
  if (dev.create_result != VK_SUCCESS) return 4;
  VkDeviceMemory memory = dev.AllocateExportable(64 * 1024, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
  VkResult first = VK_ERROR_UNKNOWN;
  VkResult second = VK_ERROR_UNKNOWN;
  HANDLE a = dev.GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, &first);
  HANDLE b = dev.GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, &second);
  // A violation after which the driver cannot be called, whatever validation_action says.
  VkMemoryGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory,
                                     VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  VkResult third = dev.GetMemoryWin32HandleKHR(dev.device, &info, nullptr);
  std::string ids;
  for (const auto& m : vk.monitor.Take()) ids += (ids.empty() ? "" : ",") + m.id;
  std::printf("first=%d second=%d third=%d distinct=%d ids=%s\n", first, second, third,
              a != b && b != nullptr, ids.c_str());
  if (a != nullptr) close(static_cast<int>(reinterpret_cast<intptr_t>(a)));
  if (b != nullptr) close(static_cast<int>(reinterpret_cast<intptr_t>(b)));
  dev.Free(memory);
  return 0;
}

int NoMessenger() {
  const char* layers[] = {ntbridge::test::kLayer};
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  info.pApplicationInfo = &app;
  info.enabledLayerCount = 1;
  info.ppEnabledLayerNames = layers;
  VkInstance instance = VK_NULL_HANDLE;
  if (vkCreateInstance(&info, nullptr, &instance) != VK_SUCCESS) return 4;
  uint32_t count = 1;
  VkPhysicalDevice gpu = VK_NULL_HANDLE;
  vkEnumeratePhysicalDevices(instance, &count, &gpu);
  if (gpu == VK_NULL_HANDLE) return 4;
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, nullptr, 0, 0, 1, &priority};
  const char* extensions[] = {VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME};
  VkDeviceCreateInfo device_info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue;
  device_info.enabledExtensionCount = 1;
  device_info.ppEnabledExtensionNames = extensions;
  VkDevice device = VK_NULL_HANDLE;
  if (vkCreateDevice(gpu, &device_info, nullptr, &device) != VK_SUCCESS) return 4;
  auto get = reinterpret_cast<PFN_vkGetMemoryWin32HandleKHR>(
      vkGetDeviceProcAddr(device, "vkGetMemoryWin32HandleKHR"));
  HANDLE handle = nullptr;
  VkResult r = get(device, nullptr, &handle);
  std::printf("result=%d\n", r);
  vkDestroyDevice(device, nullptr);
  vkDestroyInstance(instance, nullptr);
  return 0;
}

// The safe rules of VK_KHR_external_semaphore_win32 and VK_KHR_external_fence_win32 (docs/validation.md):
// with validation_action = report_only each is reported and the command goes on.
int Sync() {
  using namespace ntbridge::test;
  SyncDevice s;
  if (!s.ok()) return 4;
  VkDevice device = s.dev->device;
  auto ids = [&] {
    std::string text;
    for (const auto& m : s.vk->monitor.Take()) text += (text.empty() ? "" : ",") + m.id;
    return text;
  };
  auto line = [&](const char* name, VkResult r, const std::string& more) {
    std::printf("%s result=%d%s ids=%s\n", name, r, more.c_str(), ids().c_str());
  };
  auto inheritable = [](HANDLE h) { return h != nullptr && (fcntl(Fd(h), F_GETFD) & FD_CLOEXEC) == 0; };
  std::vector<VkSemaphore> semaphores;
  std::vector<VkFence> fences;
  std::vector<HANDLE> handles;
  VkResult r = VK_SUCCESS;

  // 01125: VkExportSemaphoreWin32HandleInfoKHR without an NT handle type. The semaphore is made, and its KMT
  // value can be fetched.
  VkExportSemaphoreWin32HandleInfoKHR sem_win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR};
  VkSemaphore sem = s.Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemKmt, &sem_win32, &r);
  VkResult got = VK_ERROR_UNKNOWN;
  if (sem != VK_NULL_HANDLE) s.SemaphoreHandle(sem, kSemKmt, &got);
  semaphores.push_back(sem);
  line("semaphore_01125", r, " handle=" + std::to_string(got));
  // pAttributes->nLength wrong: the semaphore is made, and bInheritHandle is honoured.
  SECURITY_ATTRIBUTES sa{0, nullptr, TRUE};
  sem_win32.pAttributes = &sa;
  sem = s.Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt, &sem_win32, &r);
  handles.push_back(sem != VK_NULL_HANDLE ? s.SemaphoreHandle(sem, kSemNt, &got) : nullptr);
  semaphores.push_back(sem);
  line("semaphore_attributes", r, " inheritable=" + std::to_string(inheritable(handles.back())));
  // 01127: a second NT handle of the same semaphore is another descriptor of the same payload.
  VkSemaphore nt = s.Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt | kSemKmt, nullptr, &r);
  semaphores.push_back(nt);
  const HANDLE nt_handle = s.SemaphoreHandle(nt, kSemNt, &got);
  HANDLE first = nt_handle;
  HANDLE second = s.SemaphoreHandle(nt, kSemNt, &r);
  handles.push_back(first);
  handles.push_back(second);
  line("semaphore_01127", r, " distinct=" + std::to_string(second != nullptr && second != first));

  VkExportFenceWin32HandleInfoKHR fence_win32{VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR};
  VkFence fence = s.Fence(false, kFenceKmt, &fence_win32, &r);
  got = VK_ERROR_UNKNOWN;
  if (fence != VK_NULL_HANDLE) s.FenceHandle(fence, kFenceKmt, &got);
  fences.push_back(fence);
  line("fence_01447", r, " handle=" + std::to_string(got));
  fence_win32.pAttributes = &sa;
  fence = s.Fence(false, kFenceNt, &fence_win32, &r);
  handles.push_back(fence != VK_NULL_HANDLE ? s.FenceHandle(fence, kFenceNt, &got) : nullptr);
  fences.push_back(fence);
  line("fence_attributes", r, " inheritable=" + std::to_string(inheritable(handles.back())));
  VkFence nt_fence = s.Fence(false, kFenceNt, nullptr, &r);
  fences.push_back(nt_fence);
  first = s.FenceHandle(nt_fence, kFenceNt, &got);
  second = s.FenceHandle(nt_fence, kFenceNt, &r);
  handles.push_back(first);
  handles.push_back(second);
  line("fence_01449", r, " distinct=" + std::to_string(second != nullptr && second != first));

  // VkD3D12FenceSubmitInfoKHR: the submission goes on without the structure. A temporary import first, so
  // that vkQueueSubmit looks into every submission (submit.cpp's slow path) whichever payload is used.
  VkSemaphore temporary = s.Semaphore();
  semaphores.push_back(temporary);
  s.ImportSemaphore(temporary, kSemNt, nt_handle, nullptr, VK_SEMAPHORE_IMPORT_TEMPORARY_BIT);
  VkFence done = s.Fence();
  fences.push_back(done);
  alignas(uint64_t) uint64_t values[2] = {1, 2};
  VkD3D12FenceSubmitInfoKHR d3d12{
      VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 2, values, 1, values};
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO, &d3d12};
  r = vkQueueSubmit(s.dev->queue, 1, &submit, done);
  line("d3d12_counts", r,
       " signalled=" + std::to_string(r == VK_SUCCESS && s.WaitFence(done, 5000000000ull) == VK_SUCCESS));
  VkSemaphore a = s.Semaphore(), b = s.Semaphore();
  semaphores.push_back(a);
  semaphores.push_back(b);
  s.Submit({}, {{a}});
  const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  const auto* misaligned = reinterpret_cast<const uint64_t*>(reinterpret_cast<uintptr_t>(values) + 1);
  d3d12 = {VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 1, misaligned, 1, misaligned};
  submit.waitSemaphoreCount = 1;
  submit.pWaitSemaphores = &a;
  submit.pWaitDstStageMask = &stage;
  submit.signalSemaphoreCount = 1;
  submit.pSignalSemaphores = &b;
  r = vkQueueSubmit(s.dev->queue, 1, &submit, VK_NULL_HANDLE);
  line("d3d12_pointers", r, "");
  if (r == VK_SUCCESS)
    s.Submit({{b}}, {});  // b's signal is consumed
  else
    s.Submit({{a}}, {});  // a's signal is consumed
  vkQueueWaitIdle(s.dev->queue);

  // Not safe: the driver would be handed a NULL pHandle.
  VkSemaphoreGetWin32HandleInfoKHR get{VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR, nullptr, nt,
                                       kSemKmt};
  line("null_phandle", s.GetSemaphoreWin32HandleKHR(device, &get, nullptr), "");

  for (HANDLE x : handles) {
    if (x != nullptr) close(Fd(x));
  }
  for (VkSemaphore x : semaphores) vkDestroySemaphore(device, x, nullptr);
  for (VkFence x : fences) vkDestroyFence(device, x, nullptr);
  line("end", VK_SUCCESS, "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "twice") return Twice();
  if (mode == "stderr") return NoMessenger();
  if (mode == "sync") return Sync();
  std::fprintf(stderr, "usage: %s twice | stderr | sync\n", argv[0]);
  return 64;
}
