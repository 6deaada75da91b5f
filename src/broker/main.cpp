// ntbridged: the per-user broker of KMT values and named handles (DESIGN.md §4).
//
//   ntbridged [--socket PATH] [--daemonize] [--idle-exit SECONDS] [--log-level error|warn|info|debug]
//
// The layer starts it on first need (with --daemonize: the starting process returns once the socket
// listens); systemd can start it by socket activation instead (packaging/systemd).
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "listener.hpp"
#include "log.hpp"
#include "registry.hpp"
#include "server.hpp"
#include "socket_path.hpp"

namespace {

using namespace ntbridge::broker;

struct Options {
  std::string socket_path;
  bool daemonize = false;
  int idle_exit_seconds = 0;
  LogLevel log_level = LogLevel::kWarn;
};

int Usage(const char* why) {
  std::fprintf(stderr,
               "ntbridged: %s\nusage: ntbridged [--socket PATH] [--daemonize] [--idle-exit SECONDS] "
               "[--log-level error|warn|info|debug]\n",
               why);
  return 64;
}

bool ParseArgs(int argc, char** argv, Options* o, std::string* why) {
  if (const char* env = std::getenv("NTBRIDGE_BROKER_LOG"); env != nullptr && *env != '\0') {
    auto level = ParseLogLevel(env);
    if (!level) {
      *why = std::string("NTBRIDGE_BROKER_LOG=") + env + " is not one of error, warn, info, debug";
      return false;
    }
    o->log_level = *level;
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--socket" && has_value) {
      o->socket_path = argv[++i];
    } else if (a == "--daemonize") {
      o->daemonize = true;
    } else if (a == "--idle-exit" && has_value) {
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0 || v > 86400) {
        *why = std::string("--idle-exit ") + argv[i] + " is not a number of seconds (0 to 86400)";
        return false;
      }
      o->idle_exit_seconds = static_cast<int>(v);
    } else if (a == "--log-level" && has_value) {
      auto level = ParseLogLevel(argv[++i]);
      if (!level) {
        *why = std::string("--log-level ") + argv[i] + " is not one of error, warn, info, debug";
        return false;
      }
      o->log_level = *level;
    } else {
      *why = "unknown or incomplete argument " + a;
      return false;
    }
  }
  return true;
}

// Descriptors the starting process left open (inheritable NT handles among them) must not stay alive in
// the broker: that would keep payloads alive. systemd's listening socket (3) is kept.
void CloseInheritedDescriptors() {
  const char* fds = std::getenv("LISTEN_FDS");
  const char* pid = std::getenv("LISTEN_PID");
  unsigned first = (fds != nullptr && pid != nullptr && std::atoi(pid) == getpid()) ? 4 : 3;
  close_range(first, ~0U, 0);
}

void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

uint32_t RandomInstance() {
  uint32_t v = 0;
  while (v == 0) {
    if (getrandom(&v, sizeof v, 0) != sizeof v)
      v = static_cast<uint32_t>(getpid()) ^ static_cast<uint32_t>(time(nullptr));
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CloseInheritedDescriptors();
  Options options;
  std::string why;
  if (!ParseArgs(argc, argv, &options, &why)) return Usage(why.c_str());
  SetLogLevel(options.log_level);
  RaiseDescriptorLimit();
  std::string socket_path = ntbridge::BrokerSocketPath(options.socket_path);

  Listener listener;
  switch (OpenListener(socket_path, &listener, &why)) {
    case ListenResult::kAlreadyRunning:
      NTBRIDGE_LOG(LogLevel::kInfo, why + "; leaving it to serve");
      return 0;
    case ListenResult::kFailed:
      NTBRIDGE_LOG(LogLevel::kError, why);
      return 1;
    case ListenResult::kOk:
      break;
  }
  KmtValues kmt;
  if (!kmt.Open(ntbridge::FolderOf(socket_path) + "/kmt.state", &why)) {
    NTBRIDGE_LOG(LogLevel::kError, why);
    CloseListener(&listener);
    return 1;
  }
  if (options.daemonize) {
    // The starting process waits for this one to exit: the socket listens by now.
    pid_t pid = fork();
    if (pid < 0) {
      NTBRIDGE_LOG(LogLevel::kError, std::string("fork failed: ") + std::strerror(errno));
      return 1;
    }
    if (pid > 0) _exit(0);
  }
  WritePid(listener);
  InstallSignalHandlers();
  NTBRIDGE_LOG(LogLevel::kInfo,
               "listening on " + socket_path + " (generation " + std::to_string(kmt.generation()) + ")");
  int status;
  {
    Registry registry(&kmt, RandomInstance(), 65536);
    ServerOptions server_options{options.idle_exit_seconds};
    if (const char* delay = std::getenv("NTBRIDGE_TEST_HARVEST_DELAY_MS"); delay != nullptr) {
      server_options.harvest_delay_ms = std::atoi(delay);
    }
    Server server(listener.fd, &registry, &kmt, server_options);
    status = server.Run();
  }
  CloseListener(&listener);
  return status;
}
