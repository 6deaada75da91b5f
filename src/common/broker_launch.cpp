#include "broker_launch.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "socket_path.hpp"

extern char** environ;

namespace ntbridge {
namespace {

#ifndef NTBRIDGE_INSTALL_BINDIR
#define NTBRIDGE_INSTALL_BINDIR "/usr/local/bin"
#endif

constexpr const char* kProgram = "ntbridged";

bool IsProgram(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

// The folder of the shared object (the layer) or program this function is in.
std::string OwnFolder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&OwnFolder), &info) == 0 || info.dli_fname == nullptr) return {};
  std::string path = info.dli_fname;
  if (path.find('/') == std::string::npos) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return {};
    path.assign(exe, static_cast<size_t>(n));
  }
  return FolderOf(path);
}

// Starts `program` detached (its own session; it forks again once it listens) and waits until the
// intermediate process exits, which it does only after the socket is bound and listening.
bool Spawn(const std::string& program, const std::string& socket_path, const std::string& log_path,
           std::string* error) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGHUP);
  sigaddset(&defaults, SIGCHLD);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args = {program, "--socket", socket_path, "--daemonize", "--idle-exit", "60"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    *error = "cannot start " + program + ": " + std::strerror(rc);
    return false;
  }
  // The broker's first process exits once the socket listens; a program that does not is not waited for
  // longer than 5 s (the connect attempts below say whether it answers).
  int status = 0;
  pid_t w = 0;
  for (int i = 0; i < 500 && w == 0; ++i) {
    w = waitpid(pid, &status, WNOHANG);
    if (w < 0 && errno == EINTR) w = 0;
    if (w == 0) usleep(10000);
  }
  if (w == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    *error = program + " failed to start (exit status " + std::to_string(WEXITSTATUS(status)) + "); see " +
             log_path;
    return false;
  }
  return true;  // w < 0: the application reaps children itself; the connect below finds out
}

}  // namespace

int ConnectTo(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  // Only this user's broker may receive this user's descriptors (a folder under /tmp could be another
  // user's).
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
    close(fd);
    errno = EPERM;
    return -1;
  }
  return fd;
}

std::string FindBrokerProgram(const std::string& configured) {
  if (const char* env = std::getenv("NTBRIDGE_BROKER_PATH"); env != nullptr && *env != '\0') {
    return IsProgram(env) ? env : std::string();
  }
  if (!configured.empty()) return IsProgram(configured) ? configured : std::string();
  std::string own = OwnFolder();
  std::vector<std::string> candidates;
  if (!own.empty()) {
    // Beside the layer (build tree), then lib/ or lib/<multiarch>/ next to bin/ and libexec/.
    candidates = {own + "/" + kProgram, own + "/../bin/" + kProgram, own + "/../../bin/" + kProgram,
                  own + "/../libexec/" + kProgram};
  }
  candidates.push_back(std::string(NTBRIDGE_INSTALL_BINDIR) + "/" + kProgram);
  for (const auto& c : candidates) {
    if (IsProgram(c)) return c;
  }
  return {};
}

int ConnectOrStartBroker(const std::string& socket_path, const std::string& broker_program,
                         std::string* error) {
  int fd = ConnectTo(socket_path);
  if (fd >= 0) return fd;
  if (errno == EPERM) {
    *error = "the broker at " + socket_path + " runs as another user; refusing to use it";
    return -1;
  }
  if (errno != ENOENT && errno != ECONNREFUSED) {
    *error = "cannot connect to the broker at " + socket_path + ": " + std::strerror(errno);
    return -1;
  }
  std::string folder = FolderOf(socket_path);
  if (!EnsurePrivateFolder(folder, error)) return -1;
  std::string lock_path = folder + "/launch.lock";
  int lock = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock < 0) {
    *error = "cannot open " + lock_path + ": " + std::strerror(errno);
    return -1;
  }
  int rc;
  do {
    rc = flock(lock, LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  // Whoever held the lock before may have started the broker already.
  fd = ConnectTo(socket_path);
  if (fd < 0) {
    std::string program = FindBrokerProgram(broker_program);
    if (program.empty()) {
      *error =
          "no broker answers at " + socket_path +
          " and the ntbridged program was not found (set NTBRIDGE_BROKER_PATH or the broker_path setting)";
    } else {
      // Twice: a broker that was exiting when idle still held the folder's lock the first time.
      for (int spawn = 0; spawn < 2 && fd < 0; ++spawn) {
        if (!Spawn(program, socket_path, folder + "/broker.log", error)) break;
        for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
          fd = ConnectTo(socket_path);
          if (fd < 0) usleep(20000);
        }
        if (fd < 0) *error = "started " + program + " but it does not answer at " + socket_path;
      }
    }
  }
  close(lock);  // releases the lock
  return fd;
}

}  // namespace ntbridge
