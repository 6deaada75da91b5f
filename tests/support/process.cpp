#include "process.hpp"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "wire.hpp"

namespace ntbridge::test {

int Child::Wait() {
  int status = 0;
  if (pid <= 0 || waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

Child StartChild(const std::vector<std::string>& args) {
  const char* program = std::getenv("NTBRIDGE_TEST_CHILD");
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program ? program : "ntbridge_test_child"));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  Child child;
  child.pid = fork();
  if (child.pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  return child;
}

bool SendFd(int socket, int fd, const void* data, size_t size) {
  return SendPacket(socket, {static_cast<const uint8_t*>(data), size}, fd);
}

bool ReceiveFd(int socket, int* fd, void* data, size_t size) { return ReceiveWithFd(socket, data, size, fd); }

}  // namespace ntbridge::test
