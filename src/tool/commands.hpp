// The subcommands of the `ntbridge` tool: each has its options, its --help text and what runs it. main.cpp
// reads the command line (CLI11) into the options.
#pragma once

#include <string>
#include <vector>

#include "demo.hpp"

namespace ntbridge::tool {

struct InfoOptions {
  bool json = false;
};
extern const char* const kInfoHelp;
int RunInfo(const InfoOptions& options);

struct DemoCommandLine {
  DemoOptions options;
  std::string mode = "all";  // nt, kmt, name, all or fd
  int consumer_socket = -1;  // >= 0: this process is the consumer the producer started (not in --help)
};
extern const char* const kDemoHelp;
int RunDemo(const DemoCommandLine& command);

struct StatusOptions {
  bool json = false;
  std::string socket;  // empty: VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET, else the default path
};
extern const char* const kStatusHelp;
int RunStatus(const StatusOptions& options);  // cmd_status.cpp (the broker's), or its stand-in

// `ntbridge __native-query` (not in the usage text): native_query.hpp.
int RunNativeQuery();

}  // namespace ntbridge::tool
