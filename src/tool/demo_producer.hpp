// The demo's producer, shared by its two ways of synchronising: what a run has, and the transfer commands
// that write a frame. demo_producer.cpp starts the consumer, shares the memory and runs the CPU-synchronised
// frames; demo_producer_gpu.cpp runs the GPU-synchronised ones.
#pragma once

#include <functional>

#include "demo.hpp"
#include "demo_frames.hpp"
#include "demo_protocol.hpp"
#include "vk_session.hpp"

namespace ntbridge::tool {

struct ProducerRun {
  const Device& device;
  VkBuffer buffer;  // the shared memory: `slots` slots of options.size bytes, a frame each
  uint32_t slots;
  DemoMode mode;
  const DemoOptions& options;
  int socket;  // to the consumer process
  ModeResult& result;
  const std::function<void(uint32_t, uint32_t)>& progress;
};

// Command buffers of one pool, and the pool, destroyed together.
class CommandBuffers {
 public:
  CommandBuffers(const Device& device, uint32_t count);
  ~CommandBuffers();
  CommandBuffers(const CommandBuffers&) = delete;
  CommandBuffers& operator=(const CommandBuffers&) = delete;
  VkCommandBuffer operator[](uint32_t i) const { return buffers_[i]; }

 private:
  VkDevice device_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  std::vector<VkCommandBuffer> buffers_;
};

// Records the frame's transfer commands into the slot at `offset` (fill, update, fill, each after the last).
void RecordFrameWrites(VkCommandBuffer commands, VkBuffer buffer, VkDeviceSize offset, uint64_t size,
                       const FrameOps& ops);

// Sends the setup (demo_protocol.hpp) with the semaphores' NT handles where they are valid, and waits for the
// consumer's kReady, which names its device.
void Handshake(const ProducerRun& run, const DemoSetup& setup, const NtHandle& ready = NtHandle(),
               const NtHandle& freed = NtHandle());

// The GPU-synchronised frames (demo_producer_gpu.cpp), after the memory went to the consumer.
void RunGpuFrames(const ProducerRun& run);

}  // namespace ntbridge::tool
