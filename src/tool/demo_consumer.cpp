// The demo's consumer: started with exec by the producer, it receives the shared memory, imports it by NT
// handle, KMT value or name, and checks every frame's checksum through its own mapping.
#include <unistd.h>

#include <cstdio>
#include <ntbridge/transfer.hpp>
#include <system_error>

#include "demo.hpp"
#include "demo_frames.hpp"
#include "demo_protocol.hpp"
#include "vk_session.hpp"

namespace ntbridge::tool {

namespace {

class ImportedMemory {
 public:
  ImportedMemory(VkDevice device, const MemoryInfo& info, HANDLE handle) : device_(device) {
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
    CheckVk(vkAllocateMemory(device, &allocate, nullptr, &memory_),
            "vkAllocateMemory (import of " + what + ")",
            info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT && info.name[0] == L'\0'
                ? ""
                : "KMT values and names need the ntbridged broker: see `ntbridge status`");
    CheckVk(vkMapMemory(device, memory_, 0, VK_WHOLE_SIZE, 0, &data_), "vkMapMemory (imported memory)",
            "the exporter's memory type must be host-visible");
  }
  ~ImportedMemory() {
    if (data_ != nullptr) vkUnmapMemory(device_, memory_);
    if (memory_ != VK_NULL_HANDLE) vkFreeMemory(device_, memory_, nullptr);
  }
  ImportedMemory(const ImportedMemory&) = delete;
  ImportedMemory& operator=(const ImportedMemory&) = delete;
  const void* data() const { return data_; }

 private:
  VkDevice device_;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  void* data_ = nullptr;
};

int Consume(int socket) {
  ReceivedMemory received;
  try {
    received = ReceiveMemory(socket);
  } catch (const std::system_error& e) {
    throw ToolError(std::string("receiving the shared memory failed: ") + e.what(),
                    "the consumer is started by `ntbridge demo`; do not run it by hand");
  }
  Instance instance(true);
  Device device(GpuByUuid(instance, received.info.device_uuid));
  ImportedMemory memory(device.get(), received.info, received.handle.get());
  // The import took its own reference (DESIGN.md §2): our NT handle can go, as an application would close it.
  received.handle.Reset();
  SendDemo(socket, DemoKind::kReady, 0, 0, 0, QueryGpu(device.gpu()).properties.deviceName);

  uint32_t mismatches = 0;
  for (;;) {
    const DemoMessage message = ReceiveDemo(socket, "producer");
    if (message.kind == DemoKind::kDone) break;
    if (message.kind != DemoKind::kFrame || message.bytes > received.info.allocation_size) {
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

}  // namespace

int RunConsumer(int socket) {
  try {
    const int status = Consume(socket);
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
