// `ntbridge`: the command line tool. One table of subcommands; each has --help.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "commands.hpp"
#include "errors.hpp"

namespace {

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>&);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"info", ntbridge::tool::RunInfo,
     "devices, UUIDs and which handle types can be shared, through ntbridge and natively"},
    {"demo", ntbridge::tool::RunDemo, "two processes share GPU memory by NT handle, KMT value and name"},
    {"status", ntbridge::tool::RunStatus, "what the user's broker (ntbridged) holds"},
};

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: ntbridge <command> [options]   (ntbridge <command> --help for each)\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-8s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\nntbridge implements VK_KHR_external_memory_win32 on Linux with the layer "
               "VK_LAYER_NTBRIDGE_external_win32.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    Usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const ntbridge::tool::ToolError& e) {
      std::fprintf(stderr, "ntbridge %s: error: %s\n", c.name, e.what());
      if (!e.todo().empty()) std::fprintf(stderr, "  what to do: %s\n", e.todo().c_str());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ntbridge %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "ntbridge: unknown command '%s'\n\n", name.c_str());
  Usage(stderr);
  return 2;
}
