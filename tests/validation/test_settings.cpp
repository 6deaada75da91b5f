// validation_action = fail (default) | report_only | abort, from the environment or vk_layer_settings.txt,
// and reports to stderr when the application has no messenger. Each case runs in a new process
// (ntbridge_validation_child) so that the layer reads its settings afresh.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

#include "validation_child_run.hpp"
#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

namespace fs = std::filesystem;

const std::string kFailed = std::to_string(VK_ERROR_VALIDATION_FAILED_EXT);

class Settings : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("ntbridge-settings-" + std::to_string(getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  void WriteSettingsFile(const std::string& text) { std::ofstream(dir / "vk_layer_settings.txt") << text; }

  // Runs the child with `mode` (validation_child_run.hpp), settings from this test's folder.
  Outcome Run(const std::string& mode, std::optional<std::string> action = std::nullopt) {
    return RunValidationChild(dir, mode, std::move(action));
  }

  fs::path dir;
};

constexpr const char* k00663 = "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663";
constexpr const char* kPHandle = "VUID-vkGetMemoryWin32HandleKHR-pHandle-parameter";

std::string Expected(const std::string& second, int distinct) {
  return "first=0 second=" + second + " third=" + kFailed + " distinct=" + std::to_string(distinct) +
         " ids=" + k00663 + "," + kPHandle + "\n";
}

TEST_F(Settings, DefaultIsFail) {
  Outcome o = Run("twice");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, Expected(kFailed, 0));
}

TEST_F(Settings, FailFromTheEnvironment) {
  Outcome o = Run("twice", "fail");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, Expected(kFailed, 0));
}

TEST_F(Settings, ReportOnlyCallsDownWhenSafe) {
  // 00663 is reported and the second handle is made; NULL pHandle is still refused (the driver would crash).
  Outcome o = Run("twice", "report_only");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, Expected("0", 1));
}

TEST_F(Settings, ReportOnlyFromTheSettingsFile) {
  WriteSettingsFile("# ntbridge\nntbridge_external_win32.validation_action = report_only\n");
  Outcome o = Run("twice");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, Expected("0", 1));
}

TEST_F(Settings, EnvironmentWinsOverTheSettingsFile) {
  WriteSettingsFile("ntbridge_external_win32.validation_action = abort\n");
  Outcome o = Run("twice", "fail");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, Expected(kFailed, 0));
}

TEST_F(Settings, AbortStopsTheProcessAtTheFirstViolation) {
  Outcome o = Run("twice", "abort");
  EXPECT_EQ(o.status, 128 + SIGABRT) << o.out << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find(std::string("aborting after ") + k00663), std::string::npos) << o.err;
}

TEST_F(Settings, AbortFromTheSettingsFile) {
  WriteSettingsFile("ntbridge_external_win32.validation_action = abort\n");
  Outcome o = Run("twice");
  EXPECT_EQ(o.status, 128 + SIGABRT) << o.out << o.err;
}

TEST_F(Settings, StderrWithoutAMessenger) {
  Outcome o = Run("stderr");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, "result=" + kFailed + "\n");
  EXPECT_NE(o.err.find("ERROR: VUID-vkGetMemoryWin32HandleKHR-pGetWin32HandleInfo-parameter [ntbridge] "
                       "vkGetMemoryWin32HandleKHR: pGetWin32HandleInfo is NULL"),
            std::string::npos)
      << o.err;
}

}  // namespace
}  // namespace ntbridge::test
