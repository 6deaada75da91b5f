// Running another program to completion and collecting what it writes.
#pragma once

#include <string>
#include <vector>

namespace ntbridge::tool {

struct ChildOutput {
  int status = -1;  // exit status, 128 + signal, or -1 when it could not be started (`out` empty, `err` why)
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Starts `argv[0]` (exec) with `argv` and `environment` ("NAME=value"), stdin from /dev/null, and collects
// its stdout and stderr; a program still running after `timeout_seconds` is killed (SIGKILL).
ChildOutput RunCapturing(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                         int timeout_seconds);

}  // namespace ntbridge::tool
