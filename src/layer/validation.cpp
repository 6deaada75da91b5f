#include "validation.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "settings.hpp"

namespace ntbridge {
namespace {

struct Rule {
  std::string_view vuid;
  const char* text;
};

constexpr Rule kRules[] = {
#include "win32_vuids.inc"
};

constexpr auto kSortedRules = [] {
  std::array<Rule, std::size(kRules)> rules{};
  std::copy(std::begin(kRules), std::end(kRules), rules.begin());
  std::sort(rules.begin(), rules.end(), [](const Rule& a, const Rule& b) { return a.vuid < b.vuid; });
  return rules;
}();

}  // namespace

const char* SpecText(const char* vuid) {
  std::string_view key(vuid);
  auto it = std::lower_bound(kSortedRules.begin(), kSortedRules.end(), key,
                             [](const Rule& r, std::string_view k) { return r.vuid < k; });
  return (it != kSortedRules.end() && it->vuid == key) ? it->text : nullptr;
}

bool ReportViolation(const DebugReporter& reporter, const char* vuid, const std::string& message) {
  const char* spec = SpecText(vuid);
  reporter.Error(vuid, spec == nullptr ? message : message + ". The Vulkan spec states: " + spec);
  switch (GetSettings().validation_action) {
    case ValidationAction::kAbort:
      std::fprintf(stderr, "ntbridge: aborting after %s (validation_action = abort)\n", vuid);
      std::abort();
    case ValidationAction::kReportOnly:
      return false;
    case ValidationAction::kFail:
      break;
  }
  return true;
}

bool ReportFatalViolation(const DebugReporter& reporter, const char* vuid, const std::string& message) {
  ReportViolation(reporter, vuid, message);
  return true;
}

bool ReportViolations(const DebugReporter& reporter, const Violations& violations) {
  bool stop = false;
  for (const Violation& v : violations) {
    if (ReportViolation(reporter, v.vuid, v.message) || v.fatal) stop = true;
  }
  return stop;
}

std::string Hex(uint64_t value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace ntbridge

namespace ntbridge {

VkResult UnknownDeviceReport(const char* vuid, const char* command, VkDevice device) {
  static const DebugReporter no_messengers;
  ReportFatalViolation(no_messengers, vuid,
                       std::string(command) + ": device " + Hex(device) +
                           " was not created through ntbridge, so it has no extension ntbridge emulates "
                           "(VK_KHR_external_memory_win32, VK_KHR_external_semaphore_win32, "
                           "VK_KHR_external_fence_win32)");
  return VK_ERROR_VALIDATION_FAILED_EXT;
}

}  // namespace ntbridge
