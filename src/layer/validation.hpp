// Reporting a Valid Usage violation and deciding, from the validation_action setting, what happens next.
#pragma once

#include <string>

#include "debug_report.hpp"

namespace ntbridge {

// Reports `vuid` with `message` (severity ERROR, type VALIDATION). Returns true when the command must not go
// on (validation_action fail, the default); aborts the process for validation_action abort.
bool ReportViolation(const DebugReporter& reporter, const char* vuid, const std::string& message);

// Same, but for a violation after which calling the driver is never safe: always true, whatever the setting.
bool ReportFatalViolation(const DebugReporter& reporter, const char* vuid, const std::string& message);

// "0x..." for a handle or pointer value in messages.
std::string Hex(uint64_t value);
template <typename T>
std::string Hex(T* pointer) {
  return Hex(reinterpret_cast<uint64_t>(pointer));
}

}  // namespace ntbridge
