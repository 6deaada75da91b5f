// Layer settings, read the way Khronos layers read theirs: an environment variable
// VK_NTBRIDGE_EXTERNAL_WIN32_<KEY> wins over `ntbridge_external_win32.<key> = value` in vk_layer_settings.txt
// (found through VK_LAYER_SETTINGS_PATH, a file or its folder, else the working directory).
#pragma once

#include <optional>
#include <string>

namespace ntbridge {

enum class ValidationAction {
  kFail,        // report, then return VK_ERROR_VALIDATION_FAILED_EXT without calling the driver (default)
  kReportOnly,  // report, then carry on where that is safe
  kAbort,       // report, then abort()
};

struct Settings {
  bool force_enable = false;  // emulate even where the driver has VK_KHR_external_memory_win32
  ValidationAction validation_action = ValidationAction::kFail;
  std::string broker_socket;  // override of the broker's socket path (empty: the default)
  // For tests: treat every driver's payload descriptors as one device node, as NVIDIA's are, so that NT
  // handles are traced to their exporter by open file description (kcmp) where fstat would tell (lavapipe).
  bool test_shared_payload_ids = false;
};

// Raw lookup of one setting (key in lower case, e.g. "force_enable").
std::optional<std::string> ReadSetting(const std::string& key);

// All settings, read once per process.
const Settings& GetSettings();
// Reads them again (tests change the environment).
void ReloadSettings();

}  // namespace ntbridge
