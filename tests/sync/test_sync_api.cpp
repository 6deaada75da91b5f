// Win32 semaphores and fences through ntbridge on one device: advertising, queries, export and import by NT
// handle, KMT value and name, host operations on what was shared, temporary imports, bad input.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "sync_support.hpp"

namespace ntbridge::test {
namespace {

constexpr uint64_t kMs = 1000 * 1000;

bool HasExtension(VkPhysicalDevice gpu, const char* layer, const char* name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(gpu, layer, &n, nullptr);
  std::vector<VkExtensionProperties> props(n);
  vkEnumerateDeviceExtensionProperties(gpu, layer, &n, props.data());
  for (const auto& p : props) {
    if (std::strcmp(p.extensionName, name) == 0) return true;
  }
  return false;
}

TEST(SyncAdvertise, BothExtensionsListedForTheDriverAndTheLayer) {
  VulkanInstance vk;
  ASSERT_TRUE(vk.ok()) << vk.error;
  for (const char* layer : {static_cast<const char*>(nullptr), kLayer}) {
    EXPECT_TRUE(HasExtension(vk.gpu, layer, "VK_KHR_external_semaphore_win32")) << (layer ? layer : "NULL");
    EXPECT_TRUE(HasExtension(vk.gpu, layer, "VK_KHR_external_fence_win32")) << (layer ? layer : "NULL");
  }
}

TEST(SyncAdvertise, NotListedWithoutTheLayer) {
  InstanceOptions options;
  options.ntbridge = false;
  VulkanInstance vk(options);
  ASSERT_TRUE(vk.ok()) << vk.error;
  EXPECT_FALSE(HasExtension(vk.gpu, nullptr, "VK_KHR_external_semaphore_win32"));
  EXPECT_FALSE(HasExtension(vk.gpu, nullptr, "VK_KHR_external_fence_win32"));
}

TEST(SyncAdvertise, CommandsOnlyOnDevicesThatEnabledTheExtensions) {
  VulkanInstance vk;
  ASSERT_TRUE(vk.ok()) << vk.error;
  VulkanDevice plain(vk, {});
  ASSERT_EQ(plain.create_result, VK_SUCCESS);
  EXPECT_EQ(vkGetDeviceProcAddr(plain.device, "vkGetSemaphoreWin32HandleKHR"), nullptr);
  EXPECT_EQ(vkGetDeviceProcAddr(plain.device, "vkImportFenceWin32HandleKHR"), nullptr);
  SyncDevice s;
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_NE(s.GetSemaphoreWin32HandleKHR, nullptr);
  EXPECT_NE(s.ImportSemaphoreWin32HandleKHR, nullptr);
  EXPECT_NE(s.GetFenceWin32HandleKHR, nullptr);
  EXPECT_NE(s.ImportFenceWin32HandleKHR, nullptr);
  EXPECT_TRUE(vk.monitor.Problems().empty());
}

// The host commands of timeline semaphores are the layer's only where a timeline semaphore can hold its
// shared payload (lavapipe); where the driver has external timeline semaphores (NVIDIA) the loader calls the
// driver (or the validation layer below ntbridge) directly. dladdr tells which library a returned function is
// in.
TEST(SyncAdvertise, TimelineHostCommandsSkipTheLayerWhereTheDriverHasTimelinePayloads) {
  bool driver_timeline = false;
  {
    InstanceOptions options;
    options.ntbridge = false;
    options.api_version = VK_API_VERSION_1_2;
    VulkanInstance plain(options);
    ASSERT_TRUE(plain.ok()) << plain.error;
    driver_timeline = DriverHasExternalTimelineFd(plain.gpu);
  }
  // The KHR aliases too (the extension is enabled so that the driver gives them).
  SyncDevice s(SyncDeviceOptions{.device_extensions = {VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME}});
  ASSERT_TRUE(s.ok()) << s.error;
  Dl_info layer{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(s.GetSemaphoreWin32HandleKHR), &layer), 0);
  ASSERT_NE(std::strstr(layer.dli_fname, "VkLayer_ntbridge_external_win32"), nullptr)
      << "vkGetSemaphoreWin32HandleKHR is in " << layer.dli_fname;
  VkDevice device = s.dev->device;
  auto load = [&](const char* name) {
    PFN_vkVoidFunction f = vkGetDeviceProcAddr(device, name);
    Dl_info where{};
    EXPECT_NE(f, nullptr) << name;
    if (f == nullptr) return f;
    EXPECT_NE(dladdr(reinterpret_cast<void*>(f), &where), 0) << name;
    const bool in_layer = where.dli_fbase == layer.dli_fbase;
    EXPECT_EQ(in_layer, !driver_timeline)
        << name << " is in " << (where.dli_fname ? where.dli_fname : "?") << "; the driver "
        << (driver_timeline ? "has" : "lacks") << " external timeline semaphores";
    return f;
  };
  for (const char* name : {"vkSignalSemaphore", "vkWaitSemaphores", "vkGetSemaphoreCounterValue"}) load(name);
  auto signal = reinterpret_cast<PFN_vkSignalSemaphoreKHR>(load("vkSignalSemaphoreKHR"));
  auto wait = reinterpret_cast<PFN_vkWaitSemaphoresKHR>(load("vkWaitSemaphoresKHR"));
  auto counter = reinterpret_cast<PFN_vkGetSemaphoreCounterValueKHR>(load("vkGetSemaphoreCounterValueKHR"));
  ASSERT_TRUE(signal && wait && counter);
  // Fences keep the layer's host commands everywhere (a temporary import of a driver fence needs them).
  Dl_info fences{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(vkGetDeviceProcAddr(device, "vkWaitForFences")), &fences), 0);
  EXPECT_EQ(fences.dli_fbase, layer.dli_fbase) << "vkWaitForFences is in " << fences.dli_fname;

  // What the returned functions do, on a timeline semaphore shared by NT handle (exporter and importer).
  VkSemaphore a = s.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 2, kSemNt);
  HANDLE h = s.SemaphoreHandle(a, kSemNt);
  VkSemaphore b = s.Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s.ImportSemaphore(b, kSemNt, h), VK_SUCCESS);
  close(Fd(h));
  uint64_t value = 0;
  EXPECT_EQ(counter(device, b, &value), VK_SUCCESS);
  EXPECT_EQ(value, 2u);
  VkSemaphoreSignalInfo signal_info{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, b, 6};
  EXPECT_EQ(signal(device, &signal_info), VK_SUCCESS);
  uint64_t wanted = 6;
  VkSemaphoreWaitInfo wait_info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, nullptr, 0, 1, &a, &wanted};
  EXPECT_EQ(wait(device, &wait_info, 1000 * kMs), VK_SUCCESS);
  wanted = 7;
  EXPECT_EQ(wait(device, &wait_info, 10 * kMs), VK_TIMEOUT);
  EXPECT_EQ(counter(device, a, &value), VK_SUCCESS);
  EXPECT_EQ(value, 6u);
  vkDestroySemaphore(device, b, nullptr);
  vkDestroySemaphore(device, a, nullptr);
  EXPECT_TRUE(s.vk->monitor.Problems().empty()) << Describe(s.vk->monitor.Problems());
}

class SyncQueries : public SyncTest {};

VkExternalSemaphoreProperties SemaphoreProps(VkPhysicalDevice gpu, VkSemaphoreType type, uint32_t bit) {
  VkSemaphoreTypeCreateInfo t{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr, type, 0};
  VkPhysicalDeviceExternalSemaphoreInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO, &t,
                                             static_cast<VkExternalSemaphoreHandleTypeFlagBits>(bit)};
  VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
  vkGetPhysicalDeviceExternalSemaphoreProperties(gpu, &info, &props);
  return props;
}

TEST_F(SyncQueries, OpaqueWin32TypesAreExportableAndImportable) {
  const uint32_t both =
      VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT | VK_EXTERNAL_SEMAPHORE_FEATURE_IMPORTABLE_BIT;
  for (VkSemaphoreType type : {VK_SEMAPHORE_TYPE_BINARY, VK_SEMAPHORE_TYPE_TIMELINE}) {
    for (uint32_t bit : {uint32_t(kSemNt), uint32_t(kSemKmt)}) {
      auto p = SemaphoreProps(s->vk->gpu, type, bit);
      EXPECT_EQ(p.externalSemaphoreFeatures & both, both) << "type " << type << " bit " << bit;
      EXPECT_TRUE(p.compatibleHandleTypes & kSemNt);
      EXPECT_TRUE(p.compatibleHandleTypes & kSemKmt);
      EXPECT_TRUE(p.exportFromImportedHandleTypes & bit);
    }
  }
  VkPhysicalDeviceExternalFenceInfo info{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_FENCE_INFO, nullptr,
                                         kFenceNt};
  VkExternalFenceProperties props{VK_STRUCTURE_TYPE_EXTERNAL_FENCE_PROPERTIES};
  vkGetPhysicalDeviceExternalFenceProperties(s->vk->gpu, &info, &props);
  EXPECT_EQ(props.externalFenceFeatures & both, both);
  EXPECT_TRUE(props.compatibleHandleTypes & kFenceKmt);
}

TEST_F(SyncQueries, D3D12FenceIsNotSupported) {
  auto p =
      SemaphoreProps(s->vk->gpu, VK_SEMAPHORE_TYPE_BINARY, VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT);
  EXPECT_EQ(p.externalSemaphoreFeatures, 0u);
  EXPECT_EQ(p.compatibleHandleTypes, 0u);
}

TEST_F(SyncQueries, TheSharedPayloadClaimsNoOpaqueFdCompatibility) {
  // Only where the driver has no external semaphore fd (lavapipe): then the payload is ntbridge's own.
  auto fd =
      SemaphoreProps(s->vk->gpu, VK_SEMAPHORE_TYPE_BINARY, VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT);
  if (fd.externalSemaphoreFeatures != 0)
    GTEST_SKIP() << "the driver has opaque fd semaphores (driver payload)";
  auto p = SemaphoreProps(s->vk->gpu, VK_SEMAPHORE_TYPE_BINARY, kSemNt);
  EXPECT_EQ(p.compatibleHandleTypes & VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT, 0u);
}

class SyncShare : public SyncTest {};

TEST_F(SyncShare, TimelineByNtHandleSharesTheCounter) {
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 5, kSemNt);
  HANDLE h = s->SemaphoreHandle(a, kSemNt);
  ASSERT_GT(Fd(h), 0);
  EXPECT_NE(fcntl(Fd(h), F_GETFD) & FD_CLOEXEC, 0) << "NT handles are close-on-exec unless inheritable";
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(b, kSemNt, h), VK_SUCCESS);
  close(Fd(h));  // the application closes its handle; the import holds its own reference
  EXPECT_EQ(s->Counter(b), 5u);
  EXPECT_EQ(s->HostSignal(a, 9), VK_SUCCESS);
  EXPECT_EQ(s->Counter(b), 9u);
  EXPECT_EQ(s->HostSignal(b, 12), VK_SUCCESS);
  EXPECT_EQ(s->Counter(a), 12u);
  EXPECT_EQ(s->HostWait(b, 12, 0), VK_SUCCESS);
  EXPECT_EQ(s->HostWait(b, 13, 20 * kMs), VK_TIMEOUT);
  vkDestroySemaphore(s->dev->device, a, nullptr);
  EXPECT_EQ(s->HostSignal(b, 20), VK_SUCCESS) << "the payload outlives its exporter while imported";
  EXPECT_EQ(s->Counter(b), 20u);
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

TEST_F(SyncShare, HostWaitWakesWhenAnotherThreadSignals) {
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, kSemNt);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    s->HostSignal(a, 3);
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s->HostWait(a, 3, 5000 * kMs), VK_SUCCESS);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  t.join();
  vkDestroySemaphore(s->dev->device, a, nullptr);
}

TEST_F(SyncShare, KmtValueIsStableAndImportable) {
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 1, kSemKmt);
  HANDLE k1 = s->SemaphoreHandle(a, kSemKmt);
  HANDLE k2 = s->SemaphoreHandle(a, kSemKmt);
  EXPECT_NE(k1, nullptr);
  EXPECT_EQ(k1, k2) << "repeated calls give the same KMT value";
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(b, kSemKmt, k1), VK_SUCCESS);
  EXPECT_EQ(s->HostSignal(a, 7), VK_SUCCESS);
  EXPECT_EQ(s->Counter(b), 7u);
  vkDestroySemaphore(s->dev->device, a, nullptr);
  vkDestroySemaphore(s->dev->device, b, nullptr);
  // Every semaphore of the payload is gone: the value is stale.
  VkSemaphore c = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  EXPECT_EQ(s->ImportSemaphore(c, kSemKmt, k1), VK_ERROR_INVALID_EXTERNAL_HANDLE);
  auto problems = s->vk->monitor.Problems();
  ASSERT_EQ(problems.size(), 1u) << Describe(problems);
  EXPECT_NE(problems[0].text.find("no live semaphore"), std::string::npos) << problems[0].text;
  vkDestroySemaphore(s->dev->device, c, nullptr);
}

TEST_F(SyncShare, NamedSemaphoreAndFence) {
  std::wstring name = UniqueName("sem");
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            nullptr, 0, name.c_str()};
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 4, kSemNt, &win32);
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
  ASSERT_EQ(s->ImportSemaphore(b, kSemNt, nullptr, name.c_str()), VK_SUCCESS);
  EXPECT_EQ(s->Counter(b), 4u);

  std::wstring fname = UniqueName("fence");
  VkExportFenceWin32HandleInfoKHR fwin32{VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr,
                                         nullptr, 0, fname.c_str()};
  VkFence f = s->Fence(false, kFenceNt, &fwin32);
  VkFence g = s->Fence(false);
  ASSERT_EQ(s->ImportFence(g, kFenceNt, nullptr, fname.c_str()), VK_SUCCESS);
  EXPECT_EQ(vkGetFenceStatus(s->dev->device, g), VK_NOT_READY);
  ASSERT_EQ(s->Submit({}, {}, f), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(g, 5000 * kMs), VK_SUCCESS);
  EXPECT_EQ(vkGetFenceStatus(s->dev->device, f), VK_SUCCESS);
  ASSERT_EQ(vkResetFences(s->dev->device, 1, &g), VK_SUCCESS);
  EXPECT_EQ(vkGetFenceStatus(s->dev->device, f), VK_NOT_READY) << "a reset through either resets the payload";

  // A semaphore name opened as a fence is an invalid handle, as on Windows.
  VkFence h = s->Fence(false);
  EXPECT_EQ(s->ImportFence(h, kFenceNt, nullptr, name.c_str()), VK_ERROR_INVALID_EXTERNAL_HANDLE);
  auto problems = s->vk->monitor.Problems();
  ASSERT_EQ(problems.size(), 1u) << Describe(problems);
  EXPECT_NE(problems[0].text.find("belongs to a semaphore"), std::string::npos) << problems[0].text;
  for (VkFence x : {f, g, h}) vkDestroyFence(s->dev->device, x, nullptr);
  vkDestroySemaphore(s->dev->device, a, nullptr);
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

TEST_F(SyncShare, NameInUseIsRefusedAcrossKinds) {
  std::wstring name = UniqueName("taken");
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            nullptr, 0, name.c_str()};
  VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0, kSemNt, &win32);
  VkExportFenceWin32HandleInfoKHR fwin32{VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr,
                                         nullptr, 0, name.c_str()};
  VkResult r = VK_SUCCESS;
  VkFence f = s->Fence(false, kFenceNt, &fwin32, &r);
  EXPECT_EQ(r, VK_ERROR_INVALID_EXTERNAL_HANDLE);
  EXPECT_EQ(f, VK_NULL_HANDLE);
  auto problems = s->vk->monitor.Problems();
  ASSERT_EQ(problems.size(), 1u) << Describe(problems);
  EXPECT_NE(problems[0].text.find("already in use"), std::string::npos) << problems[0].text;
  vkDestroySemaphore(s->dev->device, a, nullptr);
}

TEST_F(SyncShare, FenceByNtHandleSignalledByASubmission) {
  VkFence f = s->Fence(false, kFenceNt);
  HANDLE h = s->FenceHandle(f, kFenceNt);
  VkFence g = s->Fence(false);
  ASSERT_EQ(s->ImportFence(g, kFenceNt, h), VK_SUCCESS);
  close(Fd(h));
  EXPECT_EQ(s->WaitFence(g, 10 * kMs), VK_TIMEOUT);
  ASSERT_EQ(s->Submit({}, {}, f), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(g, 5000 * kMs), VK_SUCCESS);
  VkFence both[] = {f, g};
  EXPECT_EQ(vkWaitForFences(s->dev->device, 2, both, VK_TRUE, 0), VK_SUCCESS);
  vkDestroyFence(s->dev->device, f, nullptr);
  vkDestroyFence(s->dev->device, g, nullptr);
}

TEST_F(SyncShare, MixedWaitOnSharedAndDriverFences) {
  VkFence shared = s->Fence(false, kFenceNt);
  VkFence plain = s->Fence(false);
  VkFence both[] = {shared, plain};
  EXPECT_EQ(vkWaitForFences(s->dev->device, 2, both, VK_FALSE, 5 * kMs), VK_TIMEOUT);
  ASSERT_EQ(s->Submit({}, {}, plain), VK_SUCCESS);
  EXPECT_EQ(vkWaitForFences(s->dev->device, 2, both, VK_FALSE, 5000 * kMs), VK_SUCCESS) << "any";
  EXPECT_EQ(vkWaitForFences(s->dev->device, 2, both, VK_TRUE, 5 * kMs), VK_TIMEOUT) << "all";
  ASSERT_EQ(s->Submit({}, {}, shared), VK_SUCCESS);
  EXPECT_EQ(vkWaitForFences(s->dev->device, 2, both, VK_TRUE, 5000 * kMs), VK_SUCCESS) << "all";
  vkDestroyFence(s->dev->device, shared, nullptr);
  vkDestroyFence(s->dev->device, plain, nullptr);
}

TEST_F(SyncShare, TemporaryFenceImportEndsWithTheNextReset) {
  VkFence exported = s->Fence(false, kFenceNt);
  HANDLE h = s->FenceHandle(exported, kFenceNt);
  VkFence f = s->Fence(true);  // its own payload is signalled
  ASSERT_EQ(s->ImportFence(f, kFenceNt, h, nullptr, VK_FENCE_IMPORT_TEMPORARY_BIT), VK_SUCCESS);
  close(Fd(h));
  EXPECT_EQ(vkGetFenceStatus(s->dev->device, f), VK_NOT_READY) << "the imported payload is in effect";
  ASSERT_EQ(s->Submit({}, {}, exported), VK_SUCCESS);
  EXPECT_EQ(s->WaitFence(f, 5000 * kMs), VK_SUCCESS);
  ASSERT_EQ(vkResetFences(s->dev->device, 1, &f), VK_SUCCESS);
  // The permanent payload is back (and was reset); the imported one was not reset.
  EXPECT_EQ(vkGetFenceStatus(s->dev->device, f), VK_NOT_READY);
  EXPECT_EQ(vkGetFenceStatus(s->dev->device, exported), VK_SUCCESS);
  vkDestroyFence(s->dev->device, exported, nullptr);
  vkDestroyFence(s->dev->device, f, nullptr);
}

TEST_F(SyncShare, BadHandlesAreRefusedWithoutLeaks) {
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  // A KMT value nobody issued (this also opens the process's one connection to the broker, which stays).
  EXPECT_EQ(s->ImportSemaphore(b, kSemKmt, reinterpret_cast<HANDLE>(uintptr_t{0x7ffffff1})),
            VK_ERROR_INVALID_EXTERNAL_HANDLE);
  const int before = CountOpenFds();
  // A descriptor that is not a sync payload.
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  EXPECT_EQ(s->ImportSemaphore(b, kSemNt, reinterpret_cast<HANDLE>(static_cast<intptr_t>(pipefd[0]))),
            VK_ERROR_VALIDATION_FAILED_EXT);
  close(pipefd[0]);
  close(pipefd[1]);
  // A name nobody has.
  std::wstring name = UniqueName("nobody");
  EXPECT_EQ(s->ImportSemaphore(b, kSemNt, nullptr, name.c_str()), VK_ERROR_INVALID_EXTERNAL_HANDLE);
  EXPECT_EQ(CountOpenFds(), before) << "a refused import leaked a descriptor";
  auto problems = s->vk->monitor.Problems();
  // The driver may add messages of its own (NVIDIA's about the pipe): the layer's are looked for by id.
  bool reported = false;
  for (const auto& m : problems)
    reported |= m.id == "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468";
  EXPECT_TRUE(reported) << Describe(problems);
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

TEST_F(SyncShare, HandlesOfOneKindAreNotAnother) {
  if (s->DriverPayload()) {
    GTEST_SKIP()
        << "the driver's opaque fds do not tell a fence from a semaphore (NVIDIA accepts the import); "
           "only the layer's shared payloads say their kind";
  }
  VkFence f = s->Fence(false, kFenceNt);
  HANDLE h = s->FenceHandle(f, kFenceNt);
  VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_BINARY, 0);
  EXPECT_EQ(s->ImportSemaphore(b, kSemNt, h), VK_ERROR_VALIDATION_FAILED_EXT);
  auto problems = s->vk->monitor.Problems();
  ASSERT_EQ(problems.size(), 1u) << Describe(problems);
  EXPECT_EQ(problems[0].id, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468");
  close(Fd(h));
  vkDestroyFence(s->dev->device, f, nullptr);
  vkDestroySemaphore(s->dev->device, b, nullptr);
}

}  // namespace
}  // namespace ntbridge::test
