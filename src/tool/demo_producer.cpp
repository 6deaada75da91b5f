// The demo's producer: allocates exportable memory, shares it with a consumer process by NT handle, KMT value
// or name, and writes frames into it with transfer commands; here synchronised on the CPU (--sync cpu), in
// demo_producer_gpu.cpp on the GPU.
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ntbridge/transfer.hpp>
#include <ntbridge/vulkan.hpp>
#include <system_error>

#include "demo_fd.hpp"
#include "demo_producer.hpp"
#include "demo_protocol.hpp"
#include "demo_semaphores.hpp"

extern char** environ;

namespace ntbridge::tool {

const char* ModeName(DemoMode mode) {
  switch (mode) {
    case DemoMode::kNt:
      return "nt";
    case DemoMode::kKmt:
      return "kmt";
    case DemoMode::kName:
      return "name";
    case DemoMode::kFd:
      return "fd";
  }
  return "?";
}

const char* SyncName(DemoSync sync) { return sync == DemoSync::kGpu ? "gpu" : "cpu"; }

const char* ConsumerName(DemoConsumer consumer) {
  return consumer == DemoConsumer::kCuda ? "cuda" : "vulkan";
}

CommandBuffers::CommandBuffers(const Device& device, uint32_t count) : device_(device.get()) {
  VkCommandPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, nullptr,
                                    VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, device.queue_family()};
  CheckVk(vkCreateCommandPool(device_, &pool_info, nullptr, &pool_), "vkCreateCommandPool", "");
  buffers_.resize(count);
  VkCommandBufferAllocateInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr, pool_,
                                   VK_COMMAND_BUFFER_LEVEL_PRIMARY, count};
  CheckVk(vkAllocateCommandBuffers(device_, &info, buffers_.data()), "vkAllocateCommandBuffers", "");
}

CommandBuffers::~CommandBuffers() {
  if (pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device_, pool_, nullptr);
}

namespace {

void Barrier(VkCommandBuffer commands, VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                          dst_access};
  vkCmdPipelineBarrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, dst_stage, 0, 1, &barrier, 0, nullptr, 0,
                       nullptr);
}

}  // namespace

void RecordFrameWrites(VkCommandBuffer commands, VkBuffer buffer, VkDeviceSize offset, uint64_t size,
                       const FrameOps& ops) {
  const VkAccessFlags transfer = VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdFillBuffer(commands, buffer, offset, size, ops.base);
  Barrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, transfer);
  vkCmdUpdateBuffer(commands, buffer, offset + ops.update_offset, sizeof ops.update, ops.update.data());
  Barrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, transfer);
  vkCmdFillBuffer(commands, buffer, offset + ops.fill_offset, ops.fill_size, ops.fill_value);
}

namespace {

// The consumer process and our end of its socket. Closing the socket tells it to stop.
class Consumer {
 public:
  Consumer(DemoMode mode, DemoConsumer kind) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      throw ToolError(std::string("socketpair failed: ") + std::strerror(errno),
                      "check the process's fd limit");
    }
    socket_ = fds[0];
    fcntl(fds[1], F_SETFD, 0);  // the consumer inherits its end
    const std::string fd_text = std::to_string(fds[1]);
    const char* argv[] = {"ntbridge",     "demo",       "--consumer-socket", fd_text.c_str(), "--mode",
                          ModeName(mode), "--consumer", ConsumerName(kind),  nullptr};
    const int error =
        posix_spawn(&pid_, "/proc/self/exe", nullptr, nullptr, const_cast<char**>(argv), environ);
    close(fds[1]);
    if (error != 0) {
      close(socket_);
      throw ToolError(std::string("starting the consumer process failed: ") + std::strerror(error),
                      "check that /proc is mounted and the ntbridge executable is readable");
    }
  }
  ~Consumer() {
    if (socket_ >= 0) close(socket_);
    if (pid_ > 0) Wait();
  }
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;
  int socket() const { return socket_; }
  int Wait() {  // exit status, or 128 + signal
    int status = 0;
    const pid_t pid = std::exchange(pid_, 0);
    if (pid <= 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  int socket_ = -1;
  pid_t pid_ = 0;
};

// The memory shared with the consumer and a buffer over all of it, destroyed in reverse order.
struct SharedMemory {
  VkDevice device;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  explicit SharedMemory(VkDevice d) : device(d) {}
  ~SharedMemory() {
    if (buffer) vkDestroyBuffer(device, buffer, nullptr);
    if (memory) vkFreeMemory(device, memory, nullptr);
  }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
};

// One frame at a time: the GPU writes it, the producer waits for its fence and sends the checksum the CPU
// computed; the consumer reads its mapping and answers with its own.
void RunCpuFrames(const ProducerRun& run) {
  const DemoOptions& options = run.options;
  const VkDevice device = run.device.get();
  CommandBuffers commands(run.device, 1);
  VkFence fence = VK_NULL_HANDLE;
  VkFenceCreateInfo fence_info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  CheckVk(vkCreateFence(device, &fence_info, nullptr, &fence), "vkCreateFence", "");
  struct FenceOwner {
    VkDevice device;
    VkFence fence;
    ~FenceOwner() { vkDestroyFence(device, fence, nullptr); }
  } fence_owner{device, fence};

  std::vector<uint32_t> expected(options.size / 4);
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t frame = 0; frame < options.frames; ++frame) {
    const FrameOps ops = MakeFrame(frame, options.size);
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    CheckVk(vkBeginCommandBuffer(commands[0], &begin), "vkBeginCommandBuffer", "");
    RecordFrameWrites(commands[0], run.buffer, 0, options.size, ops);
    // The consumer reads through its own mapping after our fence: make the writes visible to the host.
    Barrier(commands[0], VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    CheckVk(vkEndCommandBuffer(commands[0]), "vkEndCommandBuffer", "");
    const VkCommandBuffer buffer = commands[0];
    VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &buffer;
    CheckVk(vkQueueSubmit(run.device.queue(), 1, &submit, fence), "vkQueueSubmit", "");
    CheckVk(vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences", "");
    CheckVk(vkResetFences(device, 1, &fence), "vkResetFences", "");
    // The expected checksum comes from the CPU's own copy of the frame, never from reading the memory back.
    ApplyOnCpu(ops, expected);
    const uint64_t checksum = Checksum(expected.data(), options.size);
    SendDemo(run.socket, DemoKind::kFrame, frame, checksum, options.size);
    const DemoMessage ack = ReceiveDemo(run.socket, "consumer");
    if (ack.kind != DemoKind::kAck || ack.frame != frame) {
      throw ToolError("the consumer answered out of turn", "run both processes from the same ntbridge build");
    }
    if (ack.checksum != checksum) ++run.result.mismatches;
    ++run.result.frames;
    run.result.bytes += options.size;
    run.progress(frame + 1, run.result.mismatches);
  }
  run.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void Handshake(const ProducerRun& run, const DemoSetup& setup, const NtHandle& ready, const NtHandle& freed) {
  SendSetup(run.socket, setup, ready, freed);
  const DemoMessage answer = ReceiveDemo(run.socket, "consumer");
  if (answer.kind != DemoKind::kReady) {
    throw ToolError("the consumer answered out of turn", "run both processes from the same ntbridge build");
  }
  run.result.consumer_device = answer.text;
}

namespace {

VkExternalMemoryHandleTypeFlagBits MemoryHandleType(DemoMode mode) {
  switch (mode) {
    case DemoMode::kKmt:
      return VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
    case DemoMode::kFd:
      return VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
    default:
      return VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  }
}

// Takes the NT handle (kNt, kName) or KMT value (kKmt) of the exported memory into `info`.
NtHandle ExportMemoryWin32(const Device& device, VkDeviceMemory memory, DemoMode mode,
                           const std::wstring& name, MemoryInfo& info) {
  const VkExternalMemoryHandleTypeFlagBits type = MemoryHandleType(mode);
  VkMemoryGetWin32HandleInfoKHR get_info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory,
                                         type};
  HANDLE raw = nullptr;
  const std::string get_call = std::string("vkGetMemoryWin32HandleKHR (") +
                               (mode == DemoMode::kKmt ? "OPAQUE_WIN32_KMT" : "OPAQUE_WIN32") + ")";
  CheckVk(
      device.GetMemoryWin32HandleKHR(device.get(), &get_info, &raw), get_call,
      mode == DemoMode::kNt ? "" : "KMT values and names need the ntbridged broker: see `ntbridge status`");
  NtHandle handle;  // the NT handle (also what keeps a name's object alive, as on Windows)
  if (mode == DemoMode::kKmt) {
    info.global_share = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(raw));
  } else {
    handle = NtHandle(raw);
  }
  if (mode == DemoMode::kName) SetName(info, name);
  return handle;
}

}  // namespace

ModeResult RunProducer(DemoMode mode, const DemoOptions& options,
                       const std::function<void(uint32_t, uint32_t)>& progress) {
  const bool gpu_sync = options.sync == DemoSync::kGpu;
  const uint32_t slots = gpu_sync ? options.ring : 1;
  const VkExternalMemoryHandleTypeFlagBits type = MemoryHandleType(mode);
  const DemoInstance instance(mode);
  const VkPhysicalDevice gpu = PickGpu(instance.instance, options.device);
  if (mode == DemoMode::kFd) RequireFdBaseline(gpu, gpu_sync);
  if (options.consumer == DemoConsumer::kCuda) RequireDriverTimelinePayload(gpu, "the CUDA consumer");
  Device device(gpu, gpu_sync, ApiOf(mode));
  SharedMemory shared(device.get());
  ModeResult result;
  result.producer_device = QueryGpu(gpu).properties.deviceName;

  VkExternalMemoryBufferCreateInfo external{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                            static_cast<VkExternalMemoryHandleTypeFlags>(type)};
  VkBufferCreateInfo buffer_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &external};
  buffer_info.size = options.size * slots;
  // The consumer creates its buffer over the memory with the same usage (a GPU consumer reads it in a
  // shader).
  buffer_info.usage = kSharedBufferUsage;
  CheckVk(vkCreateBuffer(device.get(), &buffer_info, nullptr, &shared.buffer), "vkCreateBuffer (exportable)",
          "run `ntbridge info` to see whether buffers can be exported as " + std::string(ModeName(mode)));
  VkMemoryRequirements requirements;
  vkGetBufferMemoryRequirements(device.get(), shared.buffer, &requirements);

  // A name unique to this run: a second live object under a name in use is refused (DESIGN.md §2).
  const std::wstring name = L"Local\\ntbridge-demo-" + std::to_wstring(getpid());
  VkExportMemoryWin32HandleInfoKHR win32_export{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR};
  win32_export.dwAccess = GENERIC_ALL;
  win32_export.name = name.c_str();
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
                                         mode == DemoMode::kName ? &win32_export : nullptr,
                                         static_cast<VkExternalMemoryHandleTypeFlags>(type)};
  // The CPU-synchronised consumer maps the memory; the GPU-synchronised one reads it on its GPU only.
  VkMemoryAllocateInfo allocate{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &export_info, requirements.size,
                                gpu_sync ? device.DeviceLocalType(requirements.memoryTypeBits)
                                         : device.HostVisibleType(requirements.memoryTypeBits)};
  CheckVk(vkAllocateMemory(device.get(), &allocate, nullptr, &shared.memory), "vkAllocateMemory (exportable)",
          mode == DemoMode::kName ? "names need the ntbridged broker: see `ntbridge status`" : "");
  CheckVk(vkBindBufferMemory(device.get(), shared.buffer, shared.memory, 0), "vkBindBufferMemory", "");

  MemoryInfo info{};
  info.allocation_size = allocate.allocationSize;
  info.memory_type_index = allocate.memoryTypeIndex;
  info.handle_type = static_cast<uint32_t>(type);
  FillDeviceIds(vkGetInstanceProcAddr, instance.instance.get(), gpu, info);
  const NtHandle handle = mode == DemoMode::kFd ? NtHandle::FromFd(ExportMemoryFd(device, shared.memory))
                                                : ExportMemoryWin32(device, shared.memory, mode, name, info);

  Consumer consumer(mode, options.consumer);
  try {
    if (mode == DemoMode::kFd) {
      SendMemoryFd(consumer.socket(), info, handle.fd());
    } else if (mode == DemoMode::kNt) {
      SendMemory(consumer.socket(), info, handle);
    } else {
      SendMemory(consumer.socket(), info);  // a KMT value or a name travels in `info`
    }
  } catch (const std::system_error& e) {
    throw ToolError(std::string("sending the shared memory to the consumer failed: ") + e.what(),
                    "look above for the consumer's error");
  }
  const ProducerRun run{device, shared.buffer, slots, mode, options, consumer.socket(), result, progress};
  if (gpu_sync) {
    RunGpuFrames(run);
  } else {
    DemoSetup setup;
    setup.sync = static_cast<uint32_t>(DemoSync::kCpu);
    setup.frames = options.frames;
    setup.slot_size = options.size;
    Handshake(run, setup);
    RunCpuFrames(run);
  }
  SendDemo(consumer.socket(), DemoKind::kDone);
  const int status = consumer.Wait();
  if (status != 0 && result.mismatches == 0) {
    throw ToolError("the consumer process exited with status " + std::to_string(status),
                    "look above for its error message");
  }
  return result;
}

}  // namespace ntbridge::tool
