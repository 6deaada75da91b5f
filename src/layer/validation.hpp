// Reporting a Valid Usage violation and deciding, from the validation_action setting, what happens next.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "debug_report.hpp"

namespace ntbridge {

// One broken rule, found by a Validate… function (src/layer/validation/).
struct Violation {
  const char* vuid;
  std::string message;  // "<command>: <field> is <value>…"
  // After a fatal violation calling the driver is never safe; after a non-fatal one it is, so
  // validation_action = report_only carries on.
  bool fatal = true;
};
using Violations = std::vector<Violation>;

// Reports every violation. Returns true when the command must not go on: a fatal violation, or any
// violation with validation_action = fail (the default). Aborts the process for validation_action = abort.
bool ReportViolations(const DebugReporter& reporter, const Violations& violations);

// Reports `vuid` with `message` (severity ERROR, type VALIDATION). Returns true when the command must not go
// on (validation_action fail, the default); aborts the process for validation_action abort.
bool ReportViolation(const DebugReporter& reporter, const char* vuid, const std::string& message);

// Same, but for a violation after which calling the driver is never safe: always true, whatever the setting.
bool ReportFatalViolation(const DebugReporter& reporter, const char* vuid, const std::string& message);

// A VkDevice this layer did not create (one of an instance without ntbridge), passed to a command whose
// pointer came from another device: there is no messenger to tell, so the report goes to stderr. Returns
// VK_ERROR_VALIDATION_FAILED_EXT.
VkResult UnknownDeviceReport(const char* vuid, const char* command, VkDevice device);

// The rule's text from validusage.json (the rules of tools/codegen/registry.py win32-vuids), or nullptr.
const char* SpecText(const char* vuid);

// "0x..." for a handle or pointer value in messages.
std::string Hex(uint64_t value);
template <typename T>
std::string Hex(T* pointer) {
  return Hex(reinterpret_cast<uint64_t>(pointer));
}

}  // namespace ntbridge
