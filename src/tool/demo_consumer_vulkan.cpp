// The demo's Vulkan consumer (through the layer, or through the driver's fd extensions with --mode fd): its
// GPU waits on the imported `ready` semaphore, checks the frame in a compute shader
// (shaders/frame_check.comp: WordChecksum into a host-visible array, one pair of sums per slot) and signals
// the imported `free` semaphore. One command buffer per slot, recorded once: only the semaphore values change
// from frame to frame.
#include <algorithm>

#include "demo_consumer.hpp"
#include "demo_fd.hpp"
#include "demo_semaphores.hpp"
#include "shaders/frame_check_spv.h"

namespace ntbridge::tool {

namespace {

constexpr uint32_t kGroupSize = 128;  // local_size_x of frame_check.comp
constexpr uint32_t kMaxGroups = 64;   // enough to fill a GPU with a frame of a few MiB

struct PushConstants {  // frame_check.comp's Slot
  uint32_t first_word;
  uint32_t word_count;
  uint32_t sum_index;
};

class VulkanChecker : public FrameChecker {
 public:
  explicit VulkanChecker(const SharedRing& ring);
  ~VulkanChecker() override;
  std::string device_name() const override { return name_; }
  void Submit(uint32_t frame) override;
  uint64_t Collect(uint32_t frame, const std::function<void()>& between) override;

 private:
  void Release();
  void CreateBuffers();
  void CreatePipeline();
  void Record(uint32_t slot);

  const DemoSetup setup_;
  const uint32_t memory_handle_type_;
  DemoInstance instance_;
  Device device_;
  std::string name_;
  ImportedMemory memory_;
  std::unique_ptr<Timeline> ready_;
  std::unique_ptr<Timeline> free_;
  Timeline checked_;  // this process's own: frame + 1 once the sums of a frame can be read
  VkBuffer ring_ = VK_NULL_HANDLE;
  VkBuffer sums_ = VK_NULL_HANDLE;
  VkDeviceMemory sums_memory_ = VK_NULL_HANDLE;
  const uint32_t* sums_data_ = nullptr;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  VkDescriptorPool descriptors_ = VK_NULL_HANDLE;
  VkDescriptorSet set_ = VK_NULL_HANDLE;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  std::vector<VkCommandBuffer> commands_;
  uint64_t submitted_ = 0;  // frames submitted: `checked_` reaches it once all are done
  uint64_t collected_ = 0;  // frames whose check is done
};

VulkanChecker::VulkanChecker(const SharedRing& ring)
    : setup_(ring.setup),
      memory_handle_type_(ring.memory.handle_type),
      instance_(ring.mode),
      device_(GpuByUuid(instance_.instance, ring.memory.device_uuid), true, ApiOf(ring.mode)),
      name_(QueryGpu(device_.gpu()).properties.deviceName),
      memory_(device_.get(), ring.memory, ring.memory_handle.get(), false),
      ready_(ImportTimeline(device_, setup_, kReady, ring.semaphores[kReady])),
      free_(ImportTimeline(device_, setup_, kFree, ring.semaphores[kFree])),
      checked_(device_.get()) {
  try {
    CreateBuffers();
    CreatePipeline();
    for (uint32_t slot = 0; slot < setup_.ring; ++slot) Record(slot);
  } catch (...) {
    Release();  // a constructor that throws gets no destructor call
    throw;
  }
}

VulkanChecker::~VulkanChecker() { Release(); }

void VulkanChecker::Release() {
  const VkDevice d = device_.get();
  if (submitted_ > collected_) {
    // Frames still in flight: this is an error path, and the producer may be gone. Release our GPU's waits
    // on `ready` (no signal operation of ours is pending on it) and let the work finish before the command
    // buffers and buffers go.
    const VkSemaphoreSignalInfo release{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, ready_->get(),
                                        setup_.frames + 1ull};
    vkSignalSemaphore(d, &release);
    try {
      WaitTimeline(d, checked_.get(), submitted_, "the consumer's checks in flight", {}, 10);
    } catch (const ToolError&) {
      // Nothing more can be done here; the process is about to exit with the error.
    }
  }
  submitted_ = collected_ = 0;
  if (pool_) vkDestroyCommandPool(d, std::exchange(pool_, VK_NULL_HANDLE), nullptr);
  if (descriptors_) vkDestroyDescriptorPool(d, std::exchange(descriptors_, VK_NULL_HANDLE), nullptr);
  if (pipeline_) vkDestroyPipeline(d, std::exchange(pipeline_, VK_NULL_HANDLE), nullptr);
  if (layout_) vkDestroyPipelineLayout(d, std::exchange(layout_, VK_NULL_HANDLE), nullptr);
  if (set_layout_) vkDestroyDescriptorSetLayout(d, std::exchange(set_layout_, VK_NULL_HANDLE), nullptr);
  if (sums_) vkDestroyBuffer(d, std::exchange(sums_, VK_NULL_HANDLE), nullptr);
  if (sums_memory_) vkFreeMemory(d, std::exchange(sums_memory_, VK_NULL_HANDLE), nullptr);
  if (ring_) vkDestroyBuffer(d, std::exchange(ring_, VK_NULL_HANDLE), nullptr);
}

void VulkanChecker::CreateBuffers() {
  const VkDevice d = device_.get();
  const VkDeviceSize ring_size = VkDeviceSize{setup_.ring} * setup_.slot_size;
  VkPhysicalDeviceProperties properties;
  vkGetPhysicalDeviceProperties(device_.gpu(), &properties);
  if (ring_size > properties.limits.maxStorageBufferRange || ring_size / 4 > UINT32_MAX) {
    throw ToolError("the ring of " + std::to_string(setup_.ring) + " frames of " +
                        std::to_string(setup_.slot_size) + " bytes is larger than " + name_ +
                        "'s maxStorageBufferRange (" +
                        std::to_string(properties.limits.maxStorageBufferRange) + ")",
                    "use a smaller --size or --ring");
  }
  VkExternalMemoryBufferCreateInfo external{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                            memory_handle_type_};
  VkBufferCreateInfo ring_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &external};
  ring_info.size = ring_size;
  ring_info.usage = kSharedBufferUsage;
  CheckVk(vkCreateBuffer(d, &ring_info, nullptr, &ring_), "vkCreateBuffer (over the imported memory)", "");
  CheckVk(vkBindBufferMemory(d, ring_, memory_.get(), 0), "vkBindBufferMemory (imported memory)", "");

  VkBufferCreateInfo sums_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  sums_info.size = VkDeviceSize{8} * setup_.ring;
  sums_info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  CheckVk(vkCreateBuffer(d, &sums_info, nullptr, &sums_), "vkCreateBuffer (sums)", "");
  VkMemoryRequirements requirements;
  vkGetBufferMemoryRequirements(d, sums_, &requirements);
  VkMemoryAllocateInfo allocate{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, nullptr, requirements.size,
                                device_.HostVisibleType(requirements.memoryTypeBits)};
  CheckVk(vkAllocateMemory(d, &allocate, nullptr, &sums_memory_), "vkAllocateMemory (sums)", "");
  CheckVk(vkBindBufferMemory(d, sums_, sums_memory_, 0), "vkBindBufferMemory (sums)", "");
  void* data = nullptr;
  CheckVk(vkMapMemory(d, sums_memory_, 0, VK_WHOLE_SIZE, 0, &data), "vkMapMemory (sums)", "");
  sums_data_ = static_cast<const uint32_t*>(data);
}

void VulkanChecker::CreatePipeline() {
  const VkDevice d = device_.get();
  VkDescriptorSetLayoutBinding bindings[2] = {};
  for (uint32_t i = 0; i < 2; ++i) {
    bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  }
  VkDescriptorSetLayoutCreateInfo set_info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, nullptr, 0, 2,
                                           bindings};
  CheckVk(vkCreateDescriptorSetLayout(d, &set_info, nullptr, &set_layout_), "vkCreateDescriptorSetLayout",
          "");
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(PushConstants)};
  VkPipelineLayoutCreateInfo layout_info{
      VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, nullptr, 0, 1, &set_layout_, 1, &push};
  CheckVk(vkCreatePipelineLayout(d, &layout_info, nullptr, &layout_), "vkCreatePipelineLayout", "");

  VkShaderModuleCreateInfo module_info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, nullptr, 0,
                                       sizeof kFrameCheckSpirv, kFrameCheckSpirv};
  VkShaderModule module = VK_NULL_HANDLE;
  CheckVk(vkCreateShaderModule(d, &module_info, nullptr, &module), "vkCreateShaderModule (frame_check)", "");
  VkComputePipelineCreateInfo pipeline_info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  pipeline_info.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                         nullptr,
                         0,
                         VK_SHADER_STAGE_COMPUTE_BIT,
                         module,
                         "main",
                         nullptr};
  pipeline_info.layout = layout_;
  const VkResult created =
      vkCreateComputePipelines(d, VK_NULL_HANDLE, 1, &pipeline_info, nullptr, &pipeline_);
  vkDestroyShaderModule(d, module, nullptr);
  CheckVk(created, "vkCreateComputePipelines (frame_check)", "");

  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 2};
  VkDescriptorPoolCreateInfo pool_info{
      VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, nullptr, 0, 1, 1, &size};
  CheckVk(vkCreateDescriptorPool(d, &pool_info, nullptr, &descriptors_), "vkCreateDescriptorPool", "");
  VkDescriptorSetAllocateInfo set_allocate{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, nullptr,
                                           descriptors_, 1, &set_layout_};
  CheckVk(vkAllocateDescriptorSets(d, &set_allocate, &set_), "vkAllocateDescriptorSets", "");
  VkDescriptorBufferInfo buffers[2] = {{ring_, 0, VK_WHOLE_SIZE}, {sums_, 0, VK_WHOLE_SIZE}};
  VkWriteDescriptorSet writes[2] = {};
  for (uint32_t i = 0; i < 2; ++i) {
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, nullptr, set_,        i,      0, 1,
                 VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,      nullptr, &buffers[i], nullptr};
  }
  vkUpdateDescriptorSets(d, 2, writes, 0, nullptr);

  VkCommandPoolCreateInfo command_pool{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, nullptr, 0,
                                       device_.queue_family()};
  CheckVk(vkCreateCommandPool(d, &command_pool, nullptr, &pool_), "vkCreateCommandPool", "");
  commands_.resize(setup_.ring);
  VkCommandBufferAllocateInfo command_info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr, pool_,
                                           VK_COMMAND_BUFFER_LEVEL_PRIMARY, setup_.ring};
  CheckVk(vkAllocateCommandBuffers(d, &command_info, commands_.data()), "vkAllocateCommandBuffers", "");
}

// Zero the slot's sums; acquire the slot from the producer (VK_QUEUE_FAMILY_EXTERNAL); sum it; release it
// back; make the sums visible to the host.
void VulkanChecker::Record(uint32_t slot) {
  const VkCommandBuffer c = commands_[slot];
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  CheckVk(vkBeginCommandBuffer(c, &begin), "vkBeginCommandBuffer", "");
  vkCmdFillBuffer(c, sums_, VkDeviceSize{8} * slot, 8, 0);
  const VkDeviceSize offset = VkDeviceSize{slot} * setup_.slot_size;
  VkMemoryBarrier zeroed{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                         VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  VkBufferMemoryBarrier acquire{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                nullptr,
                                0,
                                VK_ACCESS_SHADER_READ_BIT,
                                VK_QUEUE_FAMILY_EXTERNAL,
                                device_.queue_family(),
                                ring_,
                                offset,
                                setup_.slot_size};
  vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &zeroed, 1, &acquire, 0, nullptr);
  vkCmdBindPipeline(c, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
  vkCmdBindDescriptorSets(c, VK_PIPELINE_BIND_POINT_COMPUTE, layout_, 0, 1, &set_, 0, nullptr);
  const uint64_t words = setup_.slot_size / 4;
  const PushConstants push{static_cast<uint32_t>(offset / 4), static_cast<uint32_t>(words), slot};
  vkCmdPushConstants(c, layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof push, &push);
  const uint32_t groups =
      static_cast<uint32_t>(std::min<uint64_t>(kMaxGroups, (words + kGroupSize - 1) / kGroupSize));
  vkCmdDispatch(c, groups, 1, 1);
  VkBufferMemoryBarrier release = acquire;
  release.srcAccessMask = 0;
  release.dstAccessMask = 0;
  release.srcQueueFamilyIndex = device_.queue_family();
  release.dstQueueFamilyIndex = VK_QUEUE_FAMILY_EXTERNAL;
  VkMemoryBarrier to_host{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                          VK_ACCESS_HOST_READ_BIT};
  vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 1, &to_host, 1,
                       &release, 0, nullptr);
  CheckVk(vkEndCommandBuffer(c), "vkEndCommandBuffer", "");
}

void VulkanChecker::Submit(uint32_t frame) {
  const VkCommandBuffer c = commands_[frame % setup_.ring];
  const uint64_t wait_value = frame + 1ull;
  const VkSemaphore wait = ready_->get();
  const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  const VkSemaphore signals[2] = {free_->get(), checked_.get()};
  const uint64_t signal_values[2] = {frame + 1ull, frame + 1ull};
  VkTimelineSemaphoreSubmitInfo values{
      VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO, nullptr, 1, &wait_value, 2, signal_values};
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO, &values, 1, &wait, &wait_stage, 1, &c, 2, signals};
  CheckVk(vkQueueSubmit(device_.queue(), 1, &submit, VK_NULL_HANDLE), "vkQueueSubmit (check of a frame)", "");
  submitted_ = frame + 1ull;
}

uint64_t VulkanChecker::Collect(uint32_t frame, const std::function<void()>& between) {
  WaitTimeline(device_.get(), checked_.get(), frame + 1ull,
               "the consumer's check of frame " + std::to_string(frame) + " (waiting for the producer's GPU)",
               between);
  collected_ = frame + 1ull;
  const uint32_t slot = frame % setup_.ring;
  return (static_cast<uint64_t>(sums_data_[2 * slot + 1]) << 32) | sums_data_[2 * slot];
}

}  // namespace

std::unique_ptr<FrameChecker> MakeVulkanChecker(const SharedRing& ring) {
  return std::make_unique<VulkanChecker>(ring);
}

}  // namespace ntbridge::tool
