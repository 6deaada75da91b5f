// libntbridge_cuda: Vulkan memory in CUDA without a copy. The round trips need an NVIDIA GPU and are skipped,
// with the reason, where CUDA has no device; the refusal of a wrong device is checked everywhere.
#include <cuda_runtime_api.h>

#include <fcntl.h>

#include <cstring>
#include <ntbridge/cuda.hpp>
#include <ntbridge/vulkan.hpp>
#include <vector>

#include "vk_fixture.hpp"

namespace ntbridge {
namespace {

constexpr VkDeviceSize kSize = 1 << 20;

// Why CUDA cannot be used here, or "" when it has a device.
std::string NoCudaDevice() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess)
    return std::string("no CUDA device: cudaGetDeviceCount says ") + cudaGetErrorName(error);
  return count == 0 ? "no CUDA device" : "";
}

TEST(CudaDevice, AnUnknownUuidIsRefusedWithAMessage) {
  const uint8_t uuid[16] = {0xde, 0xad, 0xbe, 0xef};
  try {
    (void)FindCudaDevice(uuid);
    FAIL() << "a device with a made-up UUID was found";
  } catch (const CudaImportError& e) {
    const std::string text = e.what();
    // With a GPU: the UUID and the devices there are; without: why CUDA has none.
    EXPECT_TRUE(text.find("deadbeef-0000") != std::string::npos ||
                text.find("no usable CUDA device") != std::string::npos)
        << text;
  }
}

TEST(CudaDevice, AKmtInfoIsRefusedWithoutTouchingCuda) {
  MemoryInfo info{};
  info.allocation_size = kSize;
  info.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  info.global_share = 5;
  EXPECT_THROW(CudaExternalMemory::Import(info, NtHandle()), CudaImportError);
}

// Vulkan on the physical device CUDA device 0 is, through ntbridge over the validation layer.
class CudaImport : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = NoCudaDevice();
    if (!why.empty()) GTEST_SKIP() << why << " (these tests need an NVIDIA GPU)";
    cudaDeviceProp properties{};
    ASSERT_EQ(cudaGetDeviceProperties(&properties, 0), cudaSuccess);
    vk = std::make_unique<test::VulkanInstance>();
    ASSERT_NE(vk->instance, VK_NULL_HANDLE) << vk->error;
    uint32_t count = 0;
    vkEnumeratePhysicalDevices(vk->instance, &count, nullptr);
    std::vector<VkPhysicalDevice> gpus(count);
    vkEnumeratePhysicalDevices(vk->instance, &count, gpus.data());
    vk->gpu = VK_NULL_HANDLE;
    for (VkPhysicalDevice gpu : gpus) {
      MemoryInfo ids{};
      FillDeviceIds(vkGetInstanceProcAddr, vk->instance, gpu, ids);
      if (std::memcmp(ids.device_uuid, properties.uuid.bytes, 16) == 0) vk->gpu = gpu;
    }
    ASSERT_NE(vk->gpu, VK_NULL_HANDLE)
        << "no Vulkan device has the UUID of CUDA device 0 (" << properties.name << ")";
    dev = std::make_unique<test::VulkanDevice>(*vk);
    ASSERT_EQ(dev->create_result, VK_SUCCESS);
  }
  void TearDown() override {
    if (vk) {
      const auto problems = vk->monitor.Problems();
      EXPECT_TRUE(problems.empty()) << test::Describe(problems);
    }
    dev.reset();
    vk.reset();
  }

  MemoryInfo Info(uint32_t type_index, bool dedicated) {
    MemoryInfo info{};
    info.allocation_size = kSize;
    info.memory_type_index = type_index;
    info.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
    info.dedicated = dedicated ? 1 : 0;
    FillDeviceIds(vkGetInstanceProcAddr, vk->instance, vk->gpu, info);
    return info;
  }

  // Vulkan writes, CUDA reads the same bytes through its mapping of the same memory; CUDA writes, Vulkan
  // reads.
  void RoundTrip(VkDeviceMemory memory, const MemoryInfo& info) {
    std::vector<uint32_t> pattern(kSize / 4);
    for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint32_t>(i * 2654435761u);
    dev->Write(memory, 0, pattern.data(), kSize);
    NtHandle handle(dev->GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT));
    ASSERT_TRUE(handle.valid());
    CudaExternalMemory cuda = CudaExternalMemory::Import(info, std::move(handle));
    ASSERT_NE(cuda.data(), nullptr);
    EXPECT_EQ(cuda.device(), 0);
    cudaPointerAttributes attributes{};
    ASSERT_EQ(cudaPointerGetAttributes(&attributes, cuda.data()), cudaSuccess);
    EXPECT_EQ(attributes.type, cudaMemoryTypeDevice);

    std::vector<uint32_t> seen(kSize / 4);
    ASSERT_EQ(cudaMemcpy(seen.data(), cuda.data(), kSize, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(seen, pattern) << "CUDA does not see what Vulkan wrote";

    ASSERT_EQ(cudaMemset(cuda.data(), 0x5a, kSize), cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    std::vector<uint8_t> back(kSize);
    dev->Read(memory, 0, back.data(), kSize);
    EXPECT_EQ(back, std::vector<uint8_t>(kSize, 0x5a)) << "Vulkan does not see what CUDA wrote";
    cuda.Reset();  // unmap, destroy, close; then Vulkan frees its memory
    EXPECT_EQ(cuda.data(), nullptr);
  }

  std::unique_ptr<test::VulkanInstance> vk;
  std::unique_ptr<test::VulkanDevice> dev;
};

TEST_F(CudaImport, VulkanWritesCudaReadsAndBack) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  RoundTrip(memory, Info(dev->HostVisibleType(), false));
  dev->Free(memory);
}

TEST_F(CudaImport, DedicatedAllocationUsesTheDedicatedFlag) {
  VkExternalMemoryBufferCreateInfo external{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                            VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  VkBufferCreateInfo buffer_info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &external};
  buffer_info.size = kSize;
  buffer_info.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  VkBuffer buffer = VK_NULL_HANDLE;
  ASSERT_EQ(vkCreateBuffer(dev->device, &buffer_info, nullptr, &buffer), VK_SUCCESS);
  VkMemoryRequirements requirements;
  vkGetBufferMemoryRequirements(dev->device, buffer, &requirements);
  ASSERT_EQ(requirements.size, kSize);
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, nullptr,
                                          VK_NULL_HANDLE, buffer};
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &dedicated,
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  const uint32_t type = dev->HostVisibleType();
  ASSERT_NE(requirements.memoryTypeBits & (1u << type), 0u);
  VkDeviceMemory memory = VK_NULL_HANDLE;
  ASSERT_EQ(dev->Allocate(kSize, type, &export_info, &memory), VK_SUCCESS);
  ASSERT_EQ(vkBindBufferMemory(dev->device, buffer, memory, 0), VK_SUCCESS);
  RoundTrip(memory, Info(type, true));
  vkDestroyBuffer(dev->device, buffer, nullptr);
  dev->Free(memory);
}

TEST_F(CudaImport, AMismatchedDeviceIsRefused) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  MemoryInfo info = Info(dev->HostVisibleType(), false);
  info.device_uuid[0] ^= 0xff;
  NtHandle handle(dev->GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT));
  const int fd = handle.fd();
  try {
    (void)CudaExternalMemory::Import(info, std::move(handle));
    FAIL() << "memory was imported into a device with another UUID";
  } catch (const CudaImportError& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device has the exporter's device UUID"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(fcntl(fd, F_GETFD), 0) << "the refused import must still close the handle it was given";
  dev->Free(memory);
}

TEST_F(CudaImport, KmtValueThroughTheLayer) {
  VkDeviceMemory memory =
      dev->AllocateExportable(kSize, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT |
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  VkResult result = VK_SUCCESS;
  const HANDLE kmt = dev->GetHandle(memory, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT, &result);
  if (result != VK_SUCCESS) {
    dev->Free(memory);
    vk->monitor.Clear();
    GTEST_SKIP() << "no KMT value (is the broker ntbridged built?): VkResult " << result;
  }
  dev->WriteU32(memory, 0xFEEDF00D, 512);
  MemoryInfo info = Info(dev->HostVisibleType(), false);
  info.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  info.global_share = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(kmt));
  NtHandle handle = OpenShareAsNtHandle(dev->device, vkGetDeviceProcAddr, info);
  info.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  info.global_share = 0;
  CudaExternalMemory cuda = CudaExternalMemory::Import(info, std::move(handle));
  uint32_t seen = 0;
  ASSERT_EQ(cudaMemcpy(&seen, static_cast<char*>(cuda.data()) + 512, 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(seen, 0xFEEDF00Du);
  cuda.Reset();
  dev->Free(memory);
}

}  // namespace
}  // namespace ntbridge
