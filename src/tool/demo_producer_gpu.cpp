// The demo's producer, synchronised on the GPU: a ring of `slots` frames in the shared memory and two
// exported timeline semaphores whose values are frame numbers. The producer's GPU writes frame f into slot
// f % slots once the consumer's GPU has signalled `free` = f - slots + 1 (it has checked the slot's last
// frame), then signals `ready` = f + 1; the consumer's GPU waits for that, checks the frame and signals
// `free` = f + 1. Neither CPU waits for the other: the CPUs only queue work, and the consumer reports each
// frame's checksum over the socket, which the producer compares with its own as it comes.
#include <chrono>
#include <deque>

#include "demo_producer.hpp"
#include "demo_semaphores.hpp"

namespace ntbridge::tool {

namespace {

// Ownership of a slot between this queue family and the consumer's (VK_QUEUE_FAMILY_EXTERNAL): acquired
// before the writes, released after them.
void Transfer(VkCommandBuffer commands, VkBuffer buffer, VkDeviceSize offset, VkDeviceSize size, bool acquire,
              uint32_t family) {
  VkBufferMemoryBarrier barrier{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
  barrier.srcAccessMask = acquire ? 0 : VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = acquire ? VK_ACCESS_TRANSFER_WRITE_BIT : 0;
  barrier.srcQueueFamilyIndex = acquire ? VK_QUEUE_FAMILY_EXTERNAL : family;
  barrier.dstQueueFamilyIndex = acquire ? family : VK_QUEUE_FAMILY_EXTERNAL;
  barrier.buffer = buffer;
  barrier.offset = offset;
  barrier.size = size;
  vkCmdPipelineBarrier(commands, acquire ? VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT : VK_PIPELINE_STAGE_TRANSFER_BIT,
                       acquire ? VK_PIPELINE_STAGE_TRANSFER_BIT : VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0,
                       nullptr, 1, &barrier, 0, nullptr);
}

// What the consumer must report for each frame in flight, oldest first.
class Expected {
 public:
  explicit Expected(const ProducerRun& run) : run_(run) {}
  void Push(uint64_t checksum) { pending_.push_back(checksum); }
  size_t pending() const { return pending_.size(); }
  // Takes the consumer's reports that have arrived (all that are due when `wait`).
  void Take(bool wait) {
    while (!pending_.empty()) {
      std::optional<DemoMessage> ack;
      if (wait) {
        ack = ReceiveDemo(run_.socket, "consumer");
      } else {
        ack = PollDemo(run_.socket, "consumer");
      }
      if (!ack) return;
      if (ack->kind != DemoKind::kAck || ack->frame != run_.result.frames) {
        throw ToolError("the consumer answered out of turn",
                        "run both processes from the same ntbridge build");
      }
      if (ack->checksum != pending_.front()) ++run_.result.mismatches;
      pending_.pop_front();
      ++run_.result.frames;
      run_.result.bytes += run_.options.size;
      run_.progress(run_.result.frames, run_.result.mismatches);
    }
  }

 private:
  const ProducerRun& run_;
  std::deque<uint64_t> pending_;
};

}  // namespace

void RunGpuFrames(const ProducerRun& run) {
  const DemoOptions& options = run.options;
  const VkDevice device = run.device.get();
  const uint32_t slots = run.slots;
  const std::wstring base = L"Local\\ntbridge-demo-" + std::to_wstring(getpid());
  const ExportedTimeline ready(run.device, run.mode, base + L"-ready");
  const ExportedTimeline freed(run.device, run.mode, base + L"-free");
  const Timeline written(device);  // this process's own: when a slot's command buffer can be recorded again

  DemoSetup setup;
  setup.sync = static_cast<uint32_t>(DemoSync::kGpu);
  setup.frames = options.frames;
  setup.ring = slots;
  setup.slot_size = options.size;
  setup.handle_type = SemaphoreHandleType(run.mode);
  DescribeSemaphores(ready, freed, setup);
  Handshake(run, setup, ready.handle, freed.handle);  // NT handles ride along (kNt), else none

  CommandBuffers commands(run.device, slots);
  Expected expected(run);
  std::vector<uint32_t> words(options.size / 4);
  const auto take = [&] { expected.Take(false); };
  const auto start = std::chrono::steady_clock::now();
  uint64_t submitted = 0;  // frames whose work is queued: `written` reaches it
  try {
    for (uint32_t frame = 0; frame < options.frames; ++frame) {
      const uint32_t slot = frame % slots;
      const VkDeviceSize offset = VkDeviceSize{slot} * options.size;
      if (frame >= slots) {
        WaitTimeline(device, written.get(), frame - slots + 1,
                     "the producer's frame " + std::to_string(frame - slots), take);
      }
      const FrameOps ops = MakeFrame(frame, options.size);
      const VkCommandBuffer buffer = commands[slot];
      VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
      begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
      CheckVk(vkBeginCommandBuffer(buffer, &begin), "vkBeginCommandBuffer", "");
      Transfer(buffer, run.buffer, offset, options.size, true, run.device.queue_family());
      RecordFrameWrites(buffer, run.buffer, offset, options.size, ops);
      Transfer(buffer, run.buffer, offset, options.size, false, run.device.queue_family());
      CheckVk(vkEndCommandBuffer(buffer), "vkEndCommandBuffer", "");

      // Wait for the consumer to have checked this slot's last frame; then `ready` and `written` = frame + 1.
      const uint64_t wait_value = frame >= slots ? frame - slots + 1 : 0;
      const VkSemaphore free_semaphore = freed.get();
      const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
      const VkSemaphore signals[2] = {ready.get(), written.get()};
      const uint64_t signal_values[2] = {frame + 1ull, frame + 1ull};
      VkTimelineSemaphoreSubmitInfo values{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
      values.waitSemaphoreValueCount = frame >= slots ? 1 : 0;
      values.pWaitSemaphoreValues = &wait_value;
      values.signalSemaphoreValueCount = 2;
      values.pSignalSemaphoreValues = signal_values;
      VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO, &values};
      submit.waitSemaphoreCount = frame >= slots ? 1 : 0;
      submit.pWaitSemaphores = &free_semaphore;
      submit.pWaitDstStageMask = &wait_stage;
      submit.commandBufferCount = 1;
      submit.pCommandBuffers = &buffer;
      submit.signalSemaphoreCount = 2;
      submit.pSignalSemaphores = signals;
      CheckVk(vkQueueSubmit(run.device.queue(), 1, &submit, VK_NULL_HANDLE), "vkQueueSubmit", "");
      submitted = frame + 1ull;

      // While the GPUs work: the frame as the CPU computes it, never read back from the memory.
      ApplyOnCpu(ops, words);
      expected.Push(WordChecksum(words.data(), words.size()));
      expected.Take(false);
    }
    // Every frame checked: the consumer has signalled `free` for the last one and reported all.
    WaitTimeline(device, freed.get(), options.frames, "the consumer's last frame", take);
    expected.Take(true);
    run.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } catch (...) {
    // The consumer may be gone: release our GPU's waits on `free` (no signal operation of ours is pending
    // on it) and let the work finish before the command buffers go, instead of hanging in vkDestroyDevice.
    const VkSemaphoreSignalInfo release{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, freed.get(),
                                        options.frames + 1ull};
    vkSignalSemaphore(device, &release);
    try {
      WaitTimeline(device, written.get(), submitted, "the producer's frames in flight", {}, 10);
    } catch (const ToolError&) {
      // Nothing more can be done here; the error goes on.
    }
    throw;
  }
  WaitTimeline(device, written.get(), submitted, "the producer's last frame");
}

}  // namespace ntbridge::tool
