// libntbridge_cuda: Vulkan semaphores in CUDA, so that a Vulkan producer and a CUDA consumer order their work
// on the GPU with no host wait. The round trips need an NVIDIA GPU (the driver payload: NVIDIA's opaque
// descriptors) and are skipped, with the reason, where CUDA has no device; what is refused before CUDA is
// asked (fences, KMT values, the layer's shared payload) is checked everywhere.
#include <cuda_runtime_api.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ntbridge/cuda.hpp>
#include <ntbridge/vulkan.hpp>
#include <string>
#include <thread>

#include "sync_support.hpp"

namespace ntbridge {
namespace {

using test::kSemKmt;
using test::kSemNt;

constexpr uint64_t kMs = 1000 * 1000;

// Why CUDA cannot be used here, or "" when it has a device.
std::string NoCudaDevice() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess)
    return std::string("no CUDA device: cudaGetDeviceCount says ") + cudaGetErrorName(error);
  return count == 0 ? "no CUDA device" : "";
}

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) >= 0; }

SyncInfo Info(uint32_t kind, uint32_t handle_type = kSemNt) {
  SyncInfo info{};
  info.kind = kind;
  info.handle_type = handle_type;
  return info;
}

// Import must refuse with a CudaImportError containing `expected`, and close the handle it was given.
void ExpectRefused(const SyncInfo& info, NtHandle handle, const std::string& expected) {
  const int fd = handle.fd();
  try {
    (void)CudaExternalSemaphore::Import(info, std::move(handle));
    ADD_FAILURE() << "imported; expected a refusal saying: " << expected;
  } catch (const CudaImportError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
  if (fd >= 0) {
    EXPECT_FALSE(IsOpen(fd)) << "the refused import must still close the handle it was given";
  }
}

TEST(CudaSemaphoreRefusals, AFenceIsRefused) {
  ExpectRefused(Info(NTBRIDGE_SYNC_FENCE), NtHandle::FromFd(open("/dev/null", O_RDONLY | O_CLOEXEC)),
                "CUDA imports no fences");
}

TEST(CudaSemaphoreRefusals, AKmtValueIsRefusedWithWhatToDo) {
  SyncInfo info = Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, kSemKmt);
  info.global_share = 5;
  ExpectRefused(info, NtHandle(), "OpenShareAsNtHandle");
}

TEST(CudaSemaphoreRefusals, AnUnknownKindIsRefused) {
  ExpectRefused(Info(0), NtHandle::FromFd(open("/dev/null", O_RDONLY | O_CLOEXEC)),
                "neither NTBRIDGE_SYNC_BINARY_SEMAPHORE nor NTBRIDGE_SYNC_TIMELINE_SEMAPHORE");
}

// The layer's shared payload, as src/layer/shared_payload/sync_state.cpp makes it: a sealed memfd page.
TEST(CudaSemaphoreRefusals, ASealedMemfdNamedLikeTheSharedPayloadIsRefused) {
  const int fd = memfd_create("ntbridge-sync", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  ASSERT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL), 0);
  ExpectRefused(Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE), NtHandle::FromFd(fd), "ntbridge's shared payload");
  const int other = memfd_create("something-else", MFD_CLOEXEC);
  ExpectRefused(Info(NTBRIDGE_SYNC_BINARY_SEMAPHORE), NtHandle::FromFd(other), "not a driver's semaphore");
}

// The real thing: a semaphore the layer exports on a device without VK_KHR_external_semaphore_fd.
TEST(CudaSemaphoreRefusals, TheLayersSharedPayloadIsRefusedWithAMessage) {
  test::SyncDevice s;
  ASSERT_TRUE(s.ok()) << s.error;
  VkSemaphore sem = s.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
  NtHandle handle(s.SemaphoreHandle(sem, kSemNt));
  ASSERT_TRUE(handle.valid());
  if (fcntl(handle.fd(), F_GET_SEALS) < 0) {
    vkDestroySemaphore(s.dev->device, sem, nullptr);
    GTEST_SKIP() << "this device's semaphores have the driver's payload, which CUDA may import";
  }
  SyncInfo info = Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE);
  FillDeviceIds(vkGetInstanceProcAddr, s.vk->instance, s.vk->gpu, info);
  ExpectRefused(info, std::move(handle), "ntbridge's shared payload (/memfd:ntbridge-sync");
  vkDestroySemaphore(s.dev->device, sem, nullptr);
  const auto problems = s.vk->monitor.Problems();
  EXPECT_TRUE(problems.empty()) << test::Describe(problems);
}

TEST(CudaSemaphoreRefusals, AnEmptyOwnerRefusesWaitAndSignal) {
  CudaExternalSemaphore empty;
  EXPECT_THROW(empty.Wait(nullptr), std::logic_error);
  EXPECT_THROW(empty.Signal(nullptr, 1), std::logic_error);
  EXPECT_EQ(empty.get(), nullptr);
  EXPECT_EQ(empty.device(), -1);
}

// Vulkan on the physical device CUDA device 0 is, through ntbridge over the validation layer, and a CUDA
// stream on that device.
class CudaSemaphore : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = NoCudaDevice();
    if (!why.empty()) GTEST_SKIP() << why << " (these tests need an NVIDIA GPU)";
    cudaDeviceProp properties{};
    ASSERT_EQ(cudaGetDeviceProperties(&properties, 0), cudaSuccess);
    s = std::make_unique<test::SyncDevice>(reinterpret_cast<const uint8_t*>(properties.uuid.bytes));
    ASSERT_TRUE(s->ok()) << s->error << " (CUDA device 0 is " << properties.name << ")";
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&flag, sizeof(uint32_t)), cudaSuccess);
    ASSERT_EQ(cudaMemset(flag, 0, sizeof(uint32_t)), cudaSuccess);
  }
  void TearDown() override {
    if (stream != nullptr) cudaStreamDestroy(stream);
    if (flag != nullptr) cudaFree(flag);
    if (s) {
      const auto problems = s->vk->monitor.Problems();
      EXPECT_TRUE(problems.empty()) << test::Describe(problems);
    }
    s.reset();
  }

  SyncInfo InfoOf(uint32_t kind) {
    SyncInfo info = Info(kind);
    FillDeviceIds(vkGetInstanceProcAddr, s->vk->instance, s->vk->gpu, info);
    return info;
  }

  // `vulkan_copy` (optional) gets a duplicate of the NT handle: the spec allows one
  // vkGetSemaphoreWin32HandleKHR per semaphore and NT handle type
  // (VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01127).
  CudaExternalSemaphore Import(VkSemaphore sem, uint32_t kind, NtHandle* vulkan_copy = nullptr) {
    NtHandle handle(s->SemaphoreHandle(sem, kSemNt));
    EXPECT_TRUE(handle.valid());
    if (vulkan_copy != nullptr) *vulkan_copy = handle.Duplicate();
    return CudaExternalSemaphore::Import(InfoOf(kind), std::move(handle));
  }

  // Whether the stream's work completes within `limit` (never blocks longer: a wait CUDA never sees
  // satisfied would hang cudaStreamSynchronize).
  bool Completes(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const cudaError_t r = cudaStreamQuery(stream);
      if (r == cudaSuccess) return true;
      if (r != cudaErrorNotReady) {
        ADD_FAILURE() << "cudaStreamQuery: " << cudaGetErrorName(r);
        return false;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  uint32_t Flag() {
    uint32_t value = 0;
    EXPECT_EQ(cudaMemcpy(&value, flag, sizeof value, cudaMemcpyDeviceToHost), cudaSuccess);
    return value;
  }

  std::unique_ptr<test::SyncDevice> s;
  cudaStream_t stream = nullptr;
  void* flag = nullptr;
};

TEST_F(CudaSemaphore, ACudaWaitIsReleasedByAVulkanHostSignal) {
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
  CudaExternalSemaphore cuda = Import(sem, NTBRIDGE_SYNC_TIMELINE_SEMAPHORE);
  EXPECT_TRUE(cuda.timeline());
  EXPECT_EQ(cuda.device(), 0);
  cuda.Wait(stream, 5);
  ASSERT_EQ(cudaMemsetAsync(flag, 0x11, sizeof(uint32_t), stream), cudaSuccess);
  EXPECT_FALSE(Completes(std::chrono::milliseconds(300))) << "CUDA did not wait for value 5";
  EXPECT_EQ(s->HostSignal(sem, 4), VK_SUCCESS);
  EXPECT_FALSE(Completes(std::chrono::milliseconds(100))) << "CUDA's wait for 5 ended at 4";
  ASSERT_EQ(s->HostSignal(sem, 5), VK_SUCCESS);
  EXPECT_TRUE(Completes(std::chrono::seconds(10))) << "Vulkan's signal of 5 never reached CUDA's wait";
  EXPECT_EQ(Flag(), 0x11111111u);
  cuda.Reset();
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

TEST_F(CudaSemaphore, VulkanWaitsSeeACudaSignal) {
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
  CudaExternalSemaphore cuda = Import(sem, NTBRIDGE_SYNC_TIMELINE_SEMAPHORE);
  // CUDA's signal of N+1 is held back by its wait for N, which Vulkan gives: the whole chain on the GPU.
  cuda.Wait(stream, 1);
  cuda.Signal(stream, 2);
  EXPECT_EQ(s->HostWait(sem, 2, 200 * kMs), VK_TIMEOUT) << "CUDA signalled 2 before its wait for 1 ended";
  ASSERT_EQ(s->HostSignal(sem, 1), VK_SUCCESS);
  EXPECT_EQ(s->HostWait(sem, 2, 10000 * kMs), VK_SUCCESS) << "vkWaitSemaphores never saw CUDA's signal";
  EXPECT_EQ(s->Counter(sem), 2u);
  EXPECT_TRUE(Completes(std::chrono::seconds(10)));
  cuda.Reset();
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

TEST_F(CudaSemaphore, ABinarySemaphoreOrdersBothWays) {
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt);
  NtHandle handle;
  CudaExternalSemaphore cuda = Import(sem, NTBRIDGE_SYNC_BINARY_SEMAPHORE, &handle);
  EXPECT_FALSE(cuda.timeline());
  EXPECT_THROW(cuda.Wait(stream, 1), std::invalid_argument) << "binary semaphores have no value";

  // Vulkan's queue signals, CUDA's stream waits (and consumes the signal).
  cuda.Wait(stream);
  ASSERT_EQ(cudaMemsetAsync(flag, 0x22, sizeof(uint32_t), stream), cudaSuccess);
  EXPECT_FALSE(Completes(std::chrono::milliseconds(300))) << "CUDA did not wait for the binary semaphore";
  ASSERT_EQ(s->Submit({}, {{sem, 0}}), VK_SUCCESS);
  EXPECT_TRUE(Completes(std::chrono::seconds(10))) << "Vulkan's queue signal never reached CUDA's wait";
  EXPECT_EQ(Flag(), 0x22222222u);

  // CUDA's stream signals, Vulkan's queue waits: through a second Vulkan semaphore that imports the payload,
  // as a separate consumer would (the validation layer then knows the signal comes from outside Vulkan).
  VkSemaphore waiter = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  ASSERT_EQ(s->ImportSemaphore(waiter, kSemNt, handle.get()), VK_SUCCESS);
  handle.Reset();
  VkFence done = s->Fence(false);
  cuda.Signal(stream);
  ASSERT_EQ(s->Submit({{waiter, 0}}, {}, done), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(done, 10000 * kMs), VK_SUCCESS) << "Vulkan's queue never saw CUDA's signal";
  EXPECT_TRUE(Completes(std::chrono::seconds(10)));
  vkQueueWaitIdle(s->dev->queue);
  vkDestroyFence(s->dev->device, done, nullptr);
  vkDestroySemaphore(s->dev->device, waiter, nullptr);
  cuda.Reset();
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

TEST_F(CudaSemaphore, AMismatchedDeviceIsRefused) {
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
  SyncInfo info = InfoOf(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE);
  info.device_uuid[0] ^= 0xff;
  ExpectRefused(info, NtHandle(s->SemaphoreHandle(sem, kSemNt)),
                "no CUDA device has the exporter's device UUID");
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

TEST_F(CudaSemaphore, AKmtValueThroughTheBroker) {
  VkSemaphore sem = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemKmt | kSemNt);
  VkResult result = VK_SUCCESS;
  const HANDLE kmt = s->SemaphoreHandle(sem, kSemKmt, &result);
  if (result != VK_SUCCESS) {
    vkDestroySemaphore(s->dev->device, sem, nullptr);
    s->vk->monitor.Clear();
    GTEST_SKIP() << "no KMT value (is the broker ntbridged built?): VkResult " << result;
  }
  SyncInfo info = InfoOf(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE);
  info.handle_type = kSemKmt;
  info.global_share = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(kmt));
  NtHandle handle = OpenShareAsNtHandle(info);
  info.handle_type = kSemNt;
  info.global_share = 0;
  CudaExternalSemaphore cuda = CudaExternalSemaphore::Import(info, std::move(handle));
  cuda.Signal(stream, 9);
  EXPECT_EQ(s->HostWait(sem, 9, 10000 * kMs), VK_SUCCESS);
  EXPECT_TRUE(Completes(std::chrono::seconds(10)));
  cuda.Reset();
  vkDestroySemaphore(s->dev->device, sem, nullptr);
}

}  // namespace
}  // namespace ntbridge
