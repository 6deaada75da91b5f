// A Vulkan and a CUDA process share a buffer and two timeline semaphores by NT handles, and only the GPUs
// wait: Vulkan writes frame f once `done` = f and signals `ready` = f + 1; CUDA waits, reads, signals `done`.
#include <cuda_runtime_api.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <ntbridge/cuda.hpp>
#include <ntbridge/vulkan.hpp>
#include <string>
#include <vulkan/vulkan_raii.hpp>

namespace nb = ntbridge;
constexpr uint32_t kFrames = 200, kSize = 1 << 20;

int Consumer(int socket) {  // the CUDA process, started by the producer
  nb::ReceivedMemory shared = nb::ReceiveMemory(socket);
  nb::ReceivedSync ready = nb::ReceiveSemaphore(socket), done = nb::ReceiveSemaphore(socket);
  auto memory = nb::CudaExternalMemory::Import(shared.info, std::move(shared.handle));
  auto ready_cuda = nb::CudaExternalSemaphore::Import(ready.info, std::move(ready.handle));
  auto done_cuda = nb::CudaExternalSemaphore::Import(done.info, std::move(done.handle));
  static uint32_t copy[kSize / 4];
  uint64_t wrong = 0;
  for (uint32_t f = 0; f < kFrames; ++f) {  // on the default stream of the device Import made current
    ready_cuda.Wait(nullptr, f + 1);        // on the GPU: until the producer's GPU has written frame f
    cudaMemcpyAsync(copy, memory.data(), kSize, cudaMemcpyDeviceToHost, nullptr);
    done_cuda.Signal(nullptr, f + 1);                             // the producer's GPU may write frame f + 1
    if (cudaStreamSynchronize(nullptr) != cudaSuccess) return 1;  // only to check the copy here
    for (uint32_t word : copy) wrong += word != f * 2654435761u + 1;
  }
  std::printf("consumer: %llu wrong words in %u frames\n", static_cast<unsigned long long>(wrong), kFrames);
  return wrong == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--consumer") return Consumer(std::stoi(argv[2]));
  vk::raii::Context context;
  const vk::ApplicationInfo app("vulkan_to_cuda", 1, nullptr, 0, VK_API_VERSION_1_2);
  const char* layer = "VK_LAYER_NTBRIDGE_external_win32";
  vk::raii::Instance instance(context, vk::InstanceCreateInfo({}, &app, layer));
  vk::raii::PhysicalDevice gpu = nullptr;  // the NVIDIA GPU: CUDA imports only its own driver's objects
  for (auto& g : vk::raii::PhysicalDevices(instance))
    if (g.getProperties().vendorID == 0x10de) gpu = std::move(g);
  if (!*gpu) return std::fprintf(stderr, "no NVIDIA GPU: nothing CUDA could import\n"), 77;
  const float priority = 1;
  const vk::DeviceQueueCreateInfo queue_info({}, 0, 1, &priority);
  const char* extensions[] = {"VK_KHR_external_memory_win32", "VK_KHR_external_semaphore_win32"};
  vk::PhysicalDeviceTimelineSemaphoreFeatures timeline(VK_TRUE);
  vk::raii::Device device(gpu, vk::DeviceCreateInfo({}, queue_info, {}, extensions, nullptr, &timeline));
  const auto win32 = vk::ExternalMemoryHandleTypeFlagBits::eOpaqueWin32;
  const vk::ExternalMemoryBufferCreateInfo external(win32);
  vk::raii::Buffer buffer(device, {{}, kSize, vk::BufferUsageFlagBits::eTransferDst, {}, {}, &external});
  const vk::MemoryRequirements needs = buffer.getMemoryRequirements();
  uint32_t type = 0;  // the first device-local memory type the buffer can have
  while (!(needs.memoryTypeBits >> type & 1 && gpu.getMemoryProperties().memoryTypes[type].propertyFlags &
                                                   vk::MemoryPropertyFlagBits::eDeviceLocal))
    ++type;
  const vk::ExportMemoryAllocateInfo exported(win32);
  vk::raii::DeviceMemory memory(device, vk::MemoryAllocateInfo(needs.size, type, &exported));
  buffer.bindMemory(*memory, 0);
  const auto win32_semaphore = vk::ExternalSemaphoreHandleTypeFlagBits::eOpaqueWin32;
  const vk::ExportSemaphoreCreateInfo exported_semaphore(win32_semaphore);
  const vk::SemaphoreTypeCreateInfo timeline_type(vk::SemaphoreType::eTimeline, 0, &exported_semaphore);
  vk::raii::Semaphore ready(device, {{}, &timeline_type}), done(device, {{}, &timeline_type});
  int ends[2];  // to the consumer: this program again (exec); the NT handles go to it over a socket
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ends) != 0) return 1;  // not close-on-exec: the consumer inherits
  std::string end = std::to_string(ends[1]);
  const pid_t consumer = fork();  // exec at once: a child of a Vulkan process must start afresh
  if (consumer == 0) execl("/proc/self/exe", argv[0], "--consumer", end.c_str(), nullptr), _exit(127);
  nb::MemoryInfo info{needs.size, type, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  nb::SyncInfo sync{NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  nb::FillDeviceIds(vkGetInstanceProcAddr, *instance, *gpu, info);
  nb::FillDeviceIds(vkGetInstanceProcAddr, *instance, *gpu, sync);
  nb::SendMemory(ends[0], info, nb::NtHandle(device.getMemoryWin32HandleKHR({*memory, win32})));
  for (const vk::raii::Semaphore* s : {&ready, &done})
    nb::SendSemaphore(ends[0], sync, nb::NtHandle(device.getSemaphoreWin32HandleKHR({**s, win32_semaphore})));
  vk::raii::CommandPool pool(device, vk::CommandPoolCreateInfo({}, 0));
  vk::raii::CommandBuffers commands(device, {*pool, vk::CommandBufferLevel::ePrimary, kFrames});
  const vk::BufferMemoryBarrier to_cuda(vk::AccessFlagBits::eTransferWrite, {}, 0, VK_QUEUE_FAMILY_EXTERNAL,
                                        *buffer, 0, kSize);  // filled whole each frame: no acquire needed
  const vk::PipelineStageFlags transfer = vk::PipelineStageFlagBits::eTransfer;
  for (uint32_t f = 0; f < kFrames; ++f) {  // every frame queued at once: the semaphores order the GPUs
    commands[f].begin(vk::CommandBufferBeginInfo());
    commands[f].fillBuffer(*buffer, 0, kSize, f * 2654435761u + 1);
    commands[f].pipelineBarrier(transfer, vk::PipelineStageFlagBits::eBottomOfPipe, {}, {}, to_cuda, {});
    commands[f].end();
    const uint64_t wait = f, signal = f + 1;  // done >= f: CUDA has read frame f - 1
    const vk::TimelineSemaphoreSubmitInfo values(wait, signal);
    device.getQueue(0, 0).submit(vk::SubmitInfo(*done, transfer, *commands[f], *ready, &values));
  }
  int status = 0;  // the consumer's, once it has read every frame or failed
  waitpid(consumer, &status, 0);
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) device.signalSemaphore({*done, kFrames + 1});  // releases the frames still waiting for CUDA
  device.waitIdle();
  std::printf(ok ? "OK: Vulkan to CUDA through Win32 NT handles\n" : "FAILED: see the consumer's error\n");
  return ok ? 0 : 1;
}
