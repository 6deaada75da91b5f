// The demo's producer: allocates exportable memory, shares it with a consumer process by NT handle, KMT value
// or name, and writes frames into it with transfer commands.
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

#include "demo.hpp"
#include "demo_frames.hpp"
#include "demo_protocol.hpp"
#include "vk_session.hpp"

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
  }
  return "?";
}

namespace {

// The consumer process and our end of its socket. Closing the socket tells it to stop.
class Consumer {
 public:
  Consumer() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      throw ToolError(std::string("socketpair failed: ") + std::strerror(errno),
                      "check the process's fd limit");
    }
    socket_ = fds[0];
    fcntl(fds[1], F_SETFD, 0);  // the consumer inherits its end
    const std::string fd_text = std::to_string(fds[1]);
    const char* argv[] = {"ntbridge", "demo", "--consumer-socket", fd_text.c_str(), nullptr};
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

// The Vulkan objects of the producer, destroyed in reverse order.
struct Frames {
  VkDevice device;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkCommandPool pool = VK_NULL_HANDLE;
  VkCommandBuffer commands = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  explicit Frames(VkDevice d) : device(d) {}
  ~Frames() {
    if (fence) vkDestroyFence(device, fence, nullptr);
    if (pool) vkDestroyCommandPool(device, pool, nullptr);
    if (buffer) vkDestroyBuffer(device, buffer, nullptr);
    if (memory) vkFreeMemory(device, memory, nullptr);
  }
};

void Barrier(VkCommandBuffer commands, VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                          dst_access};
  vkCmdPipelineBarrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, dst_stage, 0, 1, &barrier, 0, nullptr, 0,
                       nullptr);
}

void Record(VkCommandBuffer commands, VkBuffer buffer, uint64_t size, const FrameOps& ops) {
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  CheckVk(vkBeginCommandBuffer(commands, &begin), "vkBeginCommandBuffer", "");
  const VkAccessFlags transfer = VK_ACCESS_TRANSFER_WRITE_BIT;
  vkCmdFillBuffer(commands, buffer, 0, size, ops.base);
  Barrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, transfer);
  vkCmdUpdateBuffer(commands, buffer, ops.update_offset, sizeof ops.update, ops.update.data());
  Barrier(commands, VK_PIPELINE_STAGE_TRANSFER_BIT, transfer);
  vkCmdFillBuffer(commands, buffer, ops.fill_offset, ops.fill_size, ops.fill_value);
  // The consumer reads through its own mapping after our fence: make the writes visible to the host.
  Barrier(commands, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  CheckVk(vkEndCommandBuffer(commands), "vkEndCommandBuffer", "");
}

}  // namespace

ModeResult RunProducer(DemoMode mode, const DemoOptions& options,
                       const std::function<void(uint32_t, uint32_t)>& progress) {
  const auto type = mode == DemoMode::kKmt ? VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT
                                           : VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  Instance instance(true);
  const VkPhysicalDevice gpu = PickGpu(instance, options.device);
  Device device(gpu);
  Frames f(device.get());
  ModeResult result;
  result.producer_device = QueryGpu(gpu).properties.deviceName;

  VkExternalMemoryBufferCreateInfo external{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                            static_cast<VkExternalMemoryHandleTypeFlags>(type)};
  VkBufferCreateInfo buffer_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &external};
  buffer_info.size = options.size;
  buffer_info.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  CheckVk(vkCreateBuffer(device.get(), &buffer_info, nullptr, &f.buffer), "vkCreateBuffer (exportable)",
          "run `ntbridge info` to see whether buffers can be exported as " + std::string(ModeName(mode)));
  VkMemoryRequirements requirements;
  vkGetBufferMemoryRequirements(device.get(), f.buffer, &requirements);

  // A name unique to this run: a second live object under a name in use is refused (DESIGN.md §2).
  const std::wstring name = L"Local\\ntbridge-demo-" + std::to_wstring(getpid());
  VkExportMemoryWin32HandleInfoKHR win32_export{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR};
  win32_export.dwAccess = GENERIC_ALL;
  win32_export.name = name.c_str();
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
                                         mode == DemoMode::kName ? &win32_export : nullptr,
                                         static_cast<VkExternalMemoryHandleTypeFlags>(type)};
  VkMemoryAllocateInfo allocate{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &export_info, requirements.size,
                                device.HostVisibleType(requirements.memoryTypeBits)};
  CheckVk(vkAllocateMemory(device.get(), &allocate, nullptr, &f.memory), "vkAllocateMemory (exportable)",
          mode == DemoMode::kName ? "names need the ntbridged broker: see `ntbridge status`" : "");
  CheckVk(vkBindBufferMemory(device.get(), f.buffer, f.memory, 0), "vkBindBufferMemory", "");

  MemoryInfo info{};
  info.allocation_size = allocate.allocationSize;
  info.memory_type_index = allocate.memoryTypeIndex;
  info.handle_type = static_cast<uint32_t>(type);
  FillDeviceIds(vkGetInstanceProcAddr, instance.get(), gpu, info);
  VkMemoryGetWin32HandleInfoKHR get_info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                         f.memory, type};
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

  VkCommandPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, nullptr,
                                    VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, device.queue_family()};
  CheckVk(vkCreateCommandPool(device.get(), &pool_info, nullptr, &f.pool), "vkCreateCommandPool", "");
  VkCommandBufferAllocateInfo commands_info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr, f.pool,
                                            VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
  CheckVk(vkAllocateCommandBuffers(device.get(), &commands_info, &f.commands), "vkAllocateCommandBuffers",
          "");
  VkFenceCreateInfo fence_info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  CheckVk(vkCreateFence(device.get(), &fence_info, nullptr, &f.fence), "vkCreateFence", "");

  Consumer consumer;
  try {
    if (mode == DemoMode::kNt) {
      SendMemory(consumer.socket(), info, handle);
    } else {
      SendMemory(consumer.socket(), info);  // a KMT value or a name travels in `info`
    }
  } catch (const std::system_error& e) {
    throw ToolError(std::string("sending the shared memory to the consumer failed: ") + e.what(),
                    "look above for the consumer's error");
  }
  result.consumer_device = ReceiveDemo(consumer.socket(), "consumer").text;

  std::vector<uint32_t> expected(options.size / 4);
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t frame = 0; frame < options.frames; ++frame) {
    const FrameOps ops = MakeFrame(frame, options.size);
    Record(f.commands, f.buffer, options.size, ops);
    VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &f.commands;
    CheckVk(vkQueueSubmit(device.queue(), 1, &submit, f.fence), "vkQueueSubmit", "");
    CheckVk(vkWaitForFences(device.get(), 1, &f.fence, VK_TRUE, UINT64_MAX), "vkWaitForFences", "");
    CheckVk(vkResetFences(device.get(), 1, &f.fence), "vkResetFences", "");
    // The expected checksum comes from the CPU's own copy of the frame, never from reading the memory back.
    ApplyOnCpu(ops, expected);
    const uint64_t checksum = Checksum(expected.data(), options.size);
    SendDemo(consumer.socket(), DemoKind::kFrame, frame, checksum, options.size);
    const DemoMessage ack = ReceiveDemo(consumer.socket(), "consumer");
    if (ack.kind != DemoKind::kAck || ack.frame != frame) {
      throw ToolError("the consumer answered out of turn", "run both processes from the same ntbridge build");
    }
    if (ack.checksum != checksum) ++result.mismatches;
    ++result.frames;
    result.bytes += options.size;
    progress(frame + 1, result.mismatches);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  SendDemo(consumer.socket(), DemoKind::kDone);
  const int status = consumer.Wait();
  if (status != 0 && result.mismatches == 0) {
    throw ToolError("the consumer process exited with status " + std::to_string(status),
                    "look above for its error message");
  }
  return result;
}

}  // namespace ntbridge::tool
