// The demo's consumer: started with exec by the producer, it receives the shared memory and the setup,
// imports the memory by NT handle, KMT value or name (or OPAQUE_FD descriptor, --mode fd), and checks every
// frame: through its own mapping after the producer's message (--sync cpu), or on its GPU after the
// producer's GPU signalled (--sync gpu, a FrameChecker of demo_consumer.hpp: Vulkan or CUDA).
#include "demo_consumer.hpp"

#include <unistd.h>

#include <ntbridge/handle.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ntbridge/transfer.hpp>
#include <system_error>

#include "demo.hpp"
#include "demo_fd.hpp"
#include "demo_frames.hpp"
#include "demo_protocol.hpp"
#include "vk_session.hpp"

namespace ntbridge::tool {

namespace {

// vkAllocateMemory importing a duplicate of the OPAQUE_FD descriptor `handle` (the driver takes the
// descriptor it imports, on success only).
VkDeviceMemory ImportMemoryFd(VkDevice device, const MemoryInfo& info, HANDLE handle) {
  if (handle == nullptr) {
    throw ToolError("the producer sent no descriptor of the memory",
                    "run both processes from the same build");
  }
  HANDLE copy = nullptr;
  if (!ntbridge_DuplicateHandle(handle, &copy, FALSE)) {
    throw ToolError(std::string("duplicating the memory's descriptor failed: ") + std::strerror(errno),
                    "check the process's fd limit");
  }
  NtHandle descriptor(copy);
  VkImportMemoryFdInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR, nullptr,
                                 VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT, descriptor.fd()};
  VkMemoryAllocateInfo allocate{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &import, info.allocation_size,
                                info.memory_type_index};
  VkDeviceMemory memory = VK_NULL_HANDLE;
  CheckVk(vkAllocateMemory(device, &allocate, nullptr, &memory), "vkAllocateMemory (import of an OPAQUE_FD)",
          "");
  descriptor.Release();
  return memory;
}

}  // namespace

ImportedMemory::ImportedMemory(VkDevice device, const MemoryInfo& info, HANDLE handle, bool map)
    : device_(device) {
  if (info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) {
    memory_ = ImportMemoryFd(device, info, handle);
    Map(map);
    return;
  }
  VkImportMemoryWin32HandleInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR};
  import.handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(info.handle_type);
  std::string what;
  if (info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) {
    import.handle = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(info.global_share));
    what = "KMT value " + std::to_string(info.global_share);
  } else if (info.name[0] != L'\0') {
    import.name = info.name;
    what = "a name";
  } else {
    import.handle = handle;
    what = "an NT handle";
  }
  VkMemoryAllocateInfo allocate{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &import, info.allocation_size,
                                info.memory_type_index};
  CheckVk(vkAllocateMemory(device, &allocate, nullptr, &memory_), "vkAllocateMemory (import of " + what + ")",
          info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT && info.name[0] == L'\0'
              ? ""
              : "KMT values and names need the ntbridged broker: see `ntbridge status`");
  Map(map);
}

void ImportedMemory::Map(bool map) {
  if (!map) return;
  const VkResult mapped = vkMapMemory(device_, memory_, 0, VK_WHOLE_SIZE, 0, &data_);
  if (mapped != VK_SUCCESS) {
    vkFreeMemory(device_, memory_, nullptr);
    CheckVk(mapped, "vkMapMemory (imported memory)", "the exporter's memory type must be host-visible");
  }
}

ImportedMemory::~ImportedMemory() {
  if (data_ != nullptr) vkUnmapMemory(device_, memory_);
  if (memory_ != VK_NULL_HANDLE) vkFreeMemory(device_, memory_, nullptr);
}

namespace {

// --sync cpu: one frame at a time, read through the mapping after the producer's message.
int ConsumeOnCpu(int socket, SharedRing& ring) {
  const DemoInstance instance(ring.mode);
  Device device(GpuByUuid(instance.instance, ring.memory.device_uuid), false, ApiOf(ring.mode));
  ImportedMemory memory(device.get(), ring.memory, ring.memory_handle.get(), true);
  // The import took its own reference (DESIGN.md §2): our NT handle can go, as an application would close it.
  ring.memory_handle.Reset();
  SendDemo(socket, DemoKind::kReady, 0, 0, 0, QueryGpu(device.gpu()).properties.deviceName);

  uint32_t mismatches = 0;
  for (;;) {
    const DemoMessage message = ReceiveDemo(socket, "producer");
    if (message.kind == DemoKind::kDone) break;
    if (message.kind != DemoKind::kFrame || message.bytes > ring.memory.allocation_size) {
      throw ToolError("unexpected message from the producer",
                      "run both processes from the same ntbridge build");
    }
    const uint64_t checksum = Checksum(memory.data(), message.bytes);
    if (checksum != message.checksum) {
      ++mismatches;
      std::fprintf(stderr, "consumer: frame %u: checksum %016llx, the producer wrote %016llx\n",
                   message.frame, static_cast<unsigned long long>(checksum),
                   static_cast<unsigned long long>(message.checksum));
    }
    SendDemo(socket, DemoKind::kAck, message.frame, checksum);
  }
  return mismatches == 0 ? 0 : 1;
}

// --sync gpu: the checker keeps up to `ring` frames in flight and reports each frame's checksum as it
// completes; the producer compares.
int ConsumeOnGpu(int socket, const SharedRing& ring, DemoConsumer consumer) {
  const std::unique_ptr<FrameChecker> checker =
      consumer == DemoConsumer::kCuda ? MakeCudaChecker(ring) : MakeVulkanChecker(ring);
  SendDemo(socket, DemoKind::kReady, 0, 0, 0, checker->device_name());
  const uint32_t frames = ring.setup.frames;
  const uint32_t depth = ring.setup.ring;
  // While waiting: a producer that died closed the socket.
  const auto producer_alive = [socket] { PeekDemo(socket, "producer"); };
  auto report = [&](uint32_t frame) {
    SendDemo(socket, DemoKind::kAck, frame, checker->Collect(frame, producer_alive));
  };
  for (uint32_t frame = 0; frame < frames; ++frame) {
    if (frame >= depth) report(frame - depth);
    checker->Submit(frame);
  }
  for (uint32_t frame = frames > depth ? frames - depth : 0; frame < frames; ++frame) report(frame);
  const DemoMessage done = ReceiveDemo(socket, "producer");
  if (done.kind != DemoKind::kDone) {
    throw ToolError("unexpected message from the producer",
                    "run both processes from the same ntbridge build");
  }
  return 0;  // the producer compares the checksums and reports mismatches
}

int Consume(int socket, DemoMode mode, DemoConsumer consumer) {
  SharedRing ring;
  ring.mode = mode;
  try {
    ReceivedMemory received = mode == DemoMode::kFd ? ReceiveMemoryFd(socket) : ReceiveMemory(socket);
    ring.memory = received.info;
    ring.memory_handle = std::move(received.handle);
  } catch (const std::system_error& e) {
    throw ToolError(std::string("receiving the shared memory failed: ") + e.what(),
                    "the consumer is started by `ntbridge demo`; do not run it by hand");
  }
  ReceivedSetup setup = ReceiveSetup(socket);
  ring.setup = setup.setup;
  ring.semaphores[kReady] = std::move(setup.handles[kReady]);
  ring.semaphores[kFree] = std::move(setup.handles[kFree]);
  if (ring.setup.sync == static_cast<uint32_t>(DemoSync::kGpu)) return ConsumeOnGpu(socket, ring, consumer);
  if (consumer == DemoConsumer::kCuda) {
    throw ToolError("the CUDA consumer needs --sync gpu", "run both processes from the same ntbridge build");
  }
  return ConsumeOnCpu(socket, ring);
}

}  // namespace

int RunConsumer(int socket, DemoMode mode, DemoConsumer consumer) {
  try {
    const int status = Consume(socket, mode, consumer);
    close(socket);
    return status;
  } catch (const ToolError& e) {
    std::fprintf(stderr, "ntbridge demo (consumer): error: %s\n", e.what());
    if (!e.todo().empty()) std::fprintf(stderr, "  what to do: %s\n", e.todo().c_str());
    try {
      SendDemo(socket, DemoKind::kError, 0, 0, 0, e.what());
    } catch (const ToolError&) {
      // The producer is gone already.
    }
    close(socket);
    return 1;
  }
}

}  // namespace ntbridge::tool
