#include "log.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace ntbridge::broker {
namespace {

LogLevel g_level = LogLevel::kWarn;
constexpr const char* kNames[] = {"error", "warn", "info", "debug"};

}  // namespace

std::optional<LogLevel> ParseLogLevel(const std::string& text) {
  for (int i = 0; i < 4; ++i) {
    if (text == kNames[i]) return static_cast<LogLevel>(i);
  }
  if (text == "warning") return LogLevel::kWarn;
  return std::nullopt;
}

void SetLogLevel(LogLevel level) { g_level = level; }

bool LogEnabled(LogLevel level) { return level <= g_level; }

void Log(LogLevel level, const std::string& message) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::fprintf(stderr, "%s.%03ldZ ntbridged[%d] %s: %s\n", stamp, now.tv_nsec / 1000000, getpid(),
               kNames[static_cast<int>(level)], message.c_str());
  std::fflush(stderr);
}

}  // namespace ntbridge::broker
