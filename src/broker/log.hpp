// The broker's log: to stderr (a log file when the layer started it, the journal under systemd), at the level
// the user chose with --log-level or NTBRIDGE_BROKER_LOG (error, warn, info, debug; default warn).
#pragma once

#include <optional>
#include <string>

namespace ntbridge::broker {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

std::optional<LogLevel> ParseLogLevel(const std::string& text);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, const std::string& message);

}  // namespace ntbridge::broker

#define NTBRIDGE_LOG(level, message)                                                    \
  do {                                                                                  \
    if (::ntbridge::broker::LogEnabled(level)) ::ntbridge::broker::Log(level, message); \
  } while (0)
