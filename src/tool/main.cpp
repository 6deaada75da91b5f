// `ntbridge`: the command line tool. One table of subcommands, read with CLI11; each has its --help text.
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "commands.hpp"
#include "errors.hpp"

namespace {

using namespace ntbridge::tool;

// --help prints the command's own text (written for people, kept verbatim) instead of CLI11's generated one.
class FixedHelp : public CLI::FormatterBase {
 public:
  explicit FixedHelp(std::string text) : text_(std::move(text)) {}
  std::string make_help(const CLI::App*, std::string, CLI::AppFormatMode) const override { return text_; }

 private:
  std::string text_;
};

struct Command {
  const char* name;
  const char* summary;  // nullptr: internal, left out of the usage text
  const char* help;
  std::function<void(CLI::App&)> options;  // declares the options on the command's CLI11 app
  std::function<int()> run;
};

std::string Usage(const std::vector<Command>& commands) {
  std::string text =
      "usage: ntbridge <command> [options]   (ntbridge <command> --help for each)\n\ncommands:\n";
  for (const Command& c : commands) {
    if (c.summary == nullptr) continue;
    char line[256];
    std::snprintf(line, sizeof line, "  %-8s %s\n", c.name, c.summary);
    text += line;
  }
  return text +
         "\nntbridge implements VK_KHR_external_memory_win32 on Linux with the layer "
         "VK_LAYER_NTBRIDGE_external_win32.\n";
}

}  // namespace

int main(int argc, char** argv) {
  InfoOptions info;
  DemoCommandLine demo;
  CLI::Option* ring_option = nullptr;
  StatusOptions status;
  const std::vector<Command> commands = {
      {"info", "devices, UUIDs and which handle types can be shared, through ntbridge and natively",
       kInfoHelp, [&](CLI::App& app) { app.add_flag("--json", info.json); }, [&] { return RunInfo(info); }},
      {"demo", "two processes share GPU memory and semaphores by NT handle, KMT value and name", kDemoHelp,
       [&](CLI::App& app) {
         app.add_option("--frames", demo.options.frames);
         app.add_option("--mode", demo.mode)->check(CLI::IsMember({"nt", "kmt", "name", "all", "fd"}));
         app.add_option("--sync", demo.options.sync)
             ->transform(CLI::CheckedTransformer(
                 std::map<std::string, DemoSync>{{"gpu", DemoSync::kGpu}, {"cpu", DemoSync::kCpu}}));
         ring_option = app.add_option("--ring", demo.options.ring)->check(CLI::Range(1, 16));
         app.add_option("--size", demo.options.size)
             ->check(CLI::Validator(
                 [](std::string& text) {
                   uint64_t size = 0;
                   const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), size);
                   if (error != std::errc() || end != text.data() + text.size())
                     return std::string();  // CLI11 says
                   return size % 4 == 0 && size >= 4096
                              ? std::string()
                              : std::string("must be a multiple of 4 and at least 4096");
                 },
                 "BYTES"));
         app.add_option("--device", demo.options.device);
         app.add_option("--consumer", demo.options.consumer)
             ->transform(CLI::CheckedTransformer(std::map<std::string, DemoConsumer>{
                 {"vulkan", DemoConsumer::kVulkan}, {"cuda", DemoConsumer::kCuda}}));
         app.add_option("--consumer-socket", demo.consumer_socket)->group("");  // the producer's child
       },
       [&] {
         if (ring_option->count() != 0 && demo.options.sync == DemoSync::kCpu) {
           std::fprintf(
               stderr,
               "ntbridge demo: error: --ring applies to --sync gpu only (--sync cpu shares one buffer)\n"
               "  what to do: see `ntbridge demo --help`\n");
           return 2;
         }
         return RunDemo(demo);
       }},
      {"status", "what the user's broker (ntbridged) holds", kStatusHelp,
       [&](CLI::App& app) {
         app.add_flag("--json", status.json);
         app.add_option("--socket", status.socket);
       },
       [&] { return RunStatus(status); }},
      {"__native-query", nullptr, "", [](CLI::App&) {}, [] { return RunNativeQuery(); }},
  };
  const std::string usage = Usage(commands);
  if (argc < 2) {
    std::fputs(usage.c_str(), stderr);
    return 2;
  }

  CLI::App app("ntbridge", "ntbridge");
  app.formatter(std::make_shared<FixedHelp>(usage));
  app.require_subcommand(1, 1);
  std::vector<CLI::App*> apps;
  for (const Command& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.summary != nullptr ? c.summary : "");
    sub->formatter(std::make_shared<FixedHelp>(c.help));
    sub->allow_extras();  // reported below, first one first (CLI11 lists them in reverse)
    c.options(*sub);
    apps.push_back(sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();  // the chosen command's text, or the usage
    return 0;
  } catch (const CLI::ParseError& e) {
    for (size_t i = 0; i < commands.size(); ++i) {
      if (!apps[i]->parsed()) continue;
      std::fprintf(stderr, "ntbridge %s: error: %s\n  what to do: see `ntbridge %s --help`\n",
                   commands[i].name, e.what(), commands[i].name);
      return 2;
    }
    std::fprintf(stderr, "ntbridge: unknown %s '%s'\n\n%s", argv[1][0] == '-' ? "option" : "command", argv[1],
                 usage.c_str());
    return 2;
  }

  for (size_t i = 0; i < commands.size(); ++i) {
    if (!apps[i]->parsed()) continue;
    if (const std::vector<std::string> extra = apps[i]->remaining(); !extra.empty()) {
      std::fprintf(stderr, "ntbridge %s: error: unknown %s '%s'\n  what to do: see `ntbridge %s --help`\n",
                   commands[i].name, extra[0].rfind('-', 0) == 0 ? "option" : "argument", extra[0].c_str(),
                   commands[i].name);
      return 2;
    }
    try {
      return commands[i].run();
    } catch (const ToolError& e) {
      std::fprintf(stderr, "ntbridge %s: error: %s\n", commands[i].name, e.what());
      if (!e.todo().empty()) std::fprintf(stderr, "  what to do: %s\n", e.todo().c_str());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ntbridge %s: error: %s\n", commands[i].name, e.what());
      return 1;
    }
  }
  return 2;  // not reached: CLI11 requires one command
}
