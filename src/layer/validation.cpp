#include "validation.hpp"

#include <cstdio>
#include <cstdlib>

#include "settings.hpp"

namespace ntbridge {

bool ReportViolation(const DebugReporter& reporter, const char* vuid, const std::string& message) {
  reporter.Error(vuid, message);
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

std::string Hex(uint64_t value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace ntbridge
