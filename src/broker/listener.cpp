#include "listener.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "socket_path.hpp"

namespace ntbridge::broker {
namespace {

bool SystemdListener(int* fd) {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr || std::atoi(pid) != getpid() || std::atoi(fds) < 1) return false;
  *fd = 3;  // SD_LISTEN_FDS_START
  fcntl(*fd, F_SETFD, FD_CLOEXEC);
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  return true;
}

}  // namespace

ListenResult OpenListener(const std::string& socket_path, Listener* out, std::string* error) {
  out->socket_path = socket_path;
  out->from_systemd = SystemdListener(&out->fd);
  std::string folder = FolderOf(socket_path);
  if (!EnsurePrivateFolder(folder, error)) return ListenResult::kFailed;
  std::string lock_path = folder + "/broker.pid";
  out->lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out->lock_fd < 0) {
    *error = "cannot open " + lock_path + ": " + std::strerror(errno);
    return ListenResult::kFailed;
  }
  if (flock(out->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    *error = "another broker holds " + lock_path;
    return errno == EWOULDBLOCK ? ListenResult::kAlreadyRunning : ListenResult::kFailed;
  }
  if (out->from_systemd) return ListenResult::kOk;

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    *error = "socket path " + socket_path + " is too long";
    return ListenResult::kFailed;
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  unlink(socket_path.c_str());  // a stale socket of a broker that died: we hold the lock now
  out->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (out->fd < 0 || bind(out->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      chmod(socket_path.c_str(), 0600) != 0 || listen(out->fd, 128) != 0) {
    *error = "cannot listen on " + socket_path + ": " + std::strerror(errno);
    return ListenResult::kFailed;
  }
  return ListenResult::kOk;
}

void WritePid(const Listener& l) {
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(l.lock_fd, 0) == 0) {
    ssize_t n = pwrite(l.lock_fd, pid.data(), pid.size(), 0);
    (void)n;
  }
}

void CloseListener(Listener* l) {
  if (l->fd >= 0) {
    if (!l->from_systemd) unlink(l->socket_path.c_str());
    close(l->fd);
  }
  l->fd = -1;
}

}  // namespace ntbridge::broker
