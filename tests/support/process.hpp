// Test support: starting the child program with exec, and passing descriptors over Unix sockets.
#pragma once

#include <string>
#include <vector>

namespace ntbridge::test {

struct Child {
  int pid = -1;
  int Wait();  // exit status, or 128 + signal
};

// Starts NTBRIDGE_TEST_CHILD with `args` (fork then exec at once, so the child starts its own driver).
Child StartChild(const std::vector<std::string>& args);

// Sends `fd` with a small payload over a connected Unix socket (SCM_RIGHTS); fd < 0 sends no descriptor.
bool SendFd(int socket, int fd, const void* data, size_t size);
// Receives what SendFd sent; *fd is -1 when no descriptor came.
bool ReceiveFd(int socket, int* fd, void* data, size_t size);

}  // namespace ntbridge::test
