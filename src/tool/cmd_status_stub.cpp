// Stand-in for `ntbridge status` while this tree has no broker (src/tool/cmd_status.cpp is the real one).
#include <cstdio>
#include <iostream>

#include "commands.hpp"

namespace ntbridge::tool {

int RunStatus(const std::vector<std::string>& args) {
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: ntbridge status [--json]\n\nWhat the user's ntbridged broker holds: names, KMT "
                   "values, holders and sizes.\nThis ntbridge was built without the broker.\n";
      return 0;
    }
  }
  std::fprintf(
      stderr,
      "ntbridge status: error: this ntbridge was built without the broker (ntbridged), so there is no "
      "status to show\n  what to do: build an ntbridge version that includes src/broker\n");
  return 2;
}

}  // namespace ntbridge::tool
