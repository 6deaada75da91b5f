// The subcommands of the `ntbridge` tool. Each takes the arguments after its name and returns the exit
// status.
#pragma once

#include <string>
#include <vector>

namespace ntbridge::tool {

int RunInfo(const std::vector<std::string>& args);
int RunDemo(const std::vector<std::string>& args);
int RunStatus(const std::vector<std::string>& args);  // cmd_status.cpp (the broker's), or its stand-in

}  // namespace ntbridge::tool
