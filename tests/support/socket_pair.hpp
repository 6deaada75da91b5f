// A connected pair of Unix sockets for transfer tests; the test parameter is the socket type
// (SOCK_STREAM, SOCK_SEQPACKET). Either end may be closed early.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ntbridge::test {

class SocketPairTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, GetParam() | SOCK_CLOEXEC, 0, fds_), 0); }
  void TearDown() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  int sender() const { return fds_[0]; }
  int receiver() const { return fds_[1]; }
  void CloseSender() {
    close(fds_[0]);
    fds_[0] = -1;
  }
  int fds_[2] = {-1, -1};
};

}  // namespace ntbridge::test
