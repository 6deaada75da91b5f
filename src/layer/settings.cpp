#include "settings.hpp"

#include <sys/stat.h>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>

namespace ntbridge {
namespace {

constexpr const char* kFilePrefix = "ntbridge_external_win32.";
constexpr const char* kEnvPrefix = "VK_NTBRIDGE_EXTERNAL_WIN32_";

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string SettingsFilePath() {
  const char* path = std::getenv("VK_LAYER_SETTINGS_PATH");
  if (path == nullptr || *path == '\0') return "vk_layer_settings.txt";
  struct stat st {};
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return std::string(path) + "/vk_layer_settings.txt";
  return path;
}

std::optional<std::string> ReadFromFile(const std::string& key) {
  std::ifstream in(SettingsFilePath());
  if (!in) return std::nullopt;
  std::string line;
  std::optional<std::string> found;
  while (std::getline(in, line)) {
    line = Trim(line.substr(0, line.find('#')));
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    if (Trim(line.substr(0, eq)) == kFilePrefix + key) found = Trim(line.substr(eq + 1));
  }
  return found;
}

bool IsTrue(const std::string& v) {
  std::string l = v;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  return l == "1" || l == "true" || l == "on" || l == "yes";
}

Settings Load() {
  Settings s;
  if (auto v = ReadSetting("force_enable")) s.force_enable = IsTrue(*v);
  if (auto v = ReadSetting("validation_action")) {
    if (*v == "report_only" || *v == "report") s.validation_action = ValidationAction::kReportOnly;
    if (*v == "abort") s.validation_action = ValidationAction::kAbort;
    if (*v == "fail") s.validation_action = ValidationAction::kFail;
  }
  if (auto v = ReadSetting("broker_socket")) s.broker_socket = *v;
  if (auto v = ReadSetting("test_shared_payload_ids")) s.test_shared_payload_ids = IsTrue(*v);
  return s;
}

std::mutex g_mutex;
std::optional<Settings> g_settings;

}  // namespace

std::optional<std::string> ReadSetting(const std::string& key) {
  std::string env = kEnvPrefix;
  for (char c : key) env += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (const char* v = std::getenv(env.c_str()); v != nullptr) return std::string(v);
  return ReadFromFile(key);
}

const Settings& GetSettings() {
  std::lock_guard lock(g_mutex);
  if (!g_settings) g_settings = Load();
  return *g_settings;
}

void ReloadSettings() {
  std::lock_guard lock(g_mutex);
  g_settings = Load();
}

}  // namespace ntbridge
