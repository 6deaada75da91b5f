// validation_action = report_only for VK_KHR_external_semaphore_win32 and VK_KHR_external_fence_win32: each
// rule marked *safe* in docs/validation.md is reported and the command goes on; a rule that is not safe still
// fails. Each case runs in a new process (ntbridge_validation_child sync), so that the layer reads its
// settings afresh.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "validation_child_run.hpp"
#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

namespace fs = std::filesystem;

const std::string kFailed = std::to_string(VK_ERROR_VALIDATION_FAILED_EXT);

class SyncSettings : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("ntbridge-sync-settings-" + std::to_string(getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

// The child's lines (validation_child.cpp, Sync) when each safe rule fails the command (`report_only` false)
// or is only reported.
std::string Expected(bool report_only) {
  const std::string ok = report_only ? "0" : kFailed;
  const std::string yes = report_only ? "1" : "0";
  // The result of fetching a handle of the object made: none was made when the command failed.
  const std::string handle = report_only ? "0" : std::to_string(VK_ERROR_UNKNOWN);
  return "semaphore_01125 result=" + ok + " handle=" + handle +
         " ids=VUID-VkExportSemaphoreWin32HandleInfoKHR-handleTypes-01125\n"
         "semaphore_attributes result=" +
         ok + " inheritable=" + yes +
         " ids=VUID-VkExportSemaphoreWin32HandleInfoKHR-pAttributes-parameter\n"
         "semaphore_01127 result=" +
         ok + " distinct=" + yes +
         " ids=VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01127\n"
         "fence_01447 result=" +
         ok + " handle=" + handle +
         " ids=VUID-VkExportFenceWin32HandleInfoKHR-handleTypes-01447\n"
         "fence_attributes result=" +
         ok + " inheritable=" + yes +
         " ids=VUID-VkExportFenceWin32HandleInfoKHR-pAttributes-parameter\n"
         "fence_01449 result=" +
         ok + " distinct=" + yes +
         " ids=VUID-VkFenceGetWin32HandleInfoKHR-handleType-01449\n"
         "d3d12_counts result=" +
         ok + " signalled=" + yes +
         " ids=VUID-VkD3D12FenceSubmitInfoKHR-waitSemaphoreValuesCount-00079,"
         "VUID-VkD3D12FenceSubmitInfoKHR-signalSemaphoreValuesCount-00080\n"
         "d3d12_pointers result=" +
         ok +
         " ids=VUID-VkD3D12FenceSubmitInfoKHR-pWaitSemaphoreValues-parameter,"
         "VUID-VkD3D12FenceSubmitInfoKHR-pSignalSemaphoreValues-parameter\n"
         "null_phandle result=" +
         kFailed +
         " ids=VUID-vkGetSemaphoreWin32HandleKHR-pHandle-parameter\n"
         "end result=0 ids=\n";
}

TEST_F(SyncSettings, FailRefusesEverySafeRule) {
  Outcome o = RunValidationChild(dir, "sync", "fail");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, Expected(false)) << o.err;
}

TEST_F(SyncSettings, ReportOnlyCarriesOnAfterEverySafeRule) {
  Outcome o = RunValidationChild(dir, "sync", "report_only");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, Expected(true)) << o.err;
}

}  // namespace
}  // namespace ntbridge::test
