// The demo's own messages that carry descriptors: the fd baseline's memory message (OPAQUE_FD, no
// libntbridge) and the setup, over a real SOCK_SEQPACKET pair with real descriptors; and the environment of
// the baseline's processes, which must enable no layer.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "demo_fd.hpp"
#include "demo_protocol.hpp"
#include "driver_alone_env.hpp"

namespace ntbridge::tool {
namespace {

struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0); }
  ~SocketPair() {
    for (int fd : fds) close(fd);
  }
};

ino_t Inode(int fd) {
  struct stat st {};
  EXPECT_EQ(fstat(fd, &st), 0);
  return st.st_ino;
}

MemoryInfo FdInfo() {
  MemoryInfo info{};
  info.allocation_size = 1 << 20;
  info.memory_type_index = 3;
  info.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  info.device_uuid[0] = 0xab;
  return info;
}

TEST(DemoProtocol, MemoryByFdArrivesWithItsDescriptor) {
  SocketPair pair;
  const int payload = memfd_create("demo-protocol-test", MFD_CLOEXEC);
  ASSERT_GE(payload, 0);
  SendMemoryFd(pair.fds[0], FdInfo(), payload);
  const ReceivedMemory got = ReceiveMemoryFd(pair.fds[1]);
  EXPECT_EQ(got.info.allocation_size, uint64_t{1} << 20);
  EXPECT_EQ(got.info.memory_type_index, 3u);
  EXPECT_EQ(got.info.device_uuid[0], 0xab);
  ASSERT_TRUE(got.handle.valid());
  EXPECT_NE(got.handle.fd(), payload);  // the kernel's duplicate, the receiver's own
  EXPECT_EQ(Inode(got.handle.fd()), Inode(payload));
  EXPECT_NE(fcntl(got.handle.fd(), F_GETFD) & FD_CLOEXEC, 0);
  close(payload);
}

TEST(DemoProtocol, MemoryByFdOfAnotherHandleTypeIsRefused) {
  SocketPair pair;
  const int payload = memfd_create("demo-protocol-test", MFD_CLOEXEC);
  ASSERT_GE(payload, 0);
  MemoryInfo info = FdInfo();
  info.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  SendMemoryFd(pair.fds[0], info, payload);
  try {
    ReceiveMemoryFd(pair.fds[1]);
    ADD_FAILURE() << "a memory message of another handle type was accepted";
  } catch (const ToolError& e) {
    EXPECT_NE(std::string(e.what()).find("malformed memory message"), std::string::npos) << e.what();
  }
  close(payload);
}

TEST(DemoProtocol, MemoryByFdWithoutADescriptorIsRefused) {
  SocketPair pair;
  const MemoryInfo info = FdInfo();
  ASSERT_EQ(send(pair.fds[0], &info, sizeof info, 0), static_cast<ssize_t>(sizeof info));
  EXPECT_THROW(ReceiveMemoryFd(pair.fds[1]), ToolError);
}

TEST(DemoProtocol, ClosedPeerIsAnError) {
  SocketPair pair;
  close(pair.fds[0]);
  pair.fds[0] = -1;
  try {
    ReceiveMemoryFd(pair.fds[1]);
    ADD_FAILURE() << "nothing thrown";
  } catch (const ToolError& e) {
    EXPECT_NE(std::string(e.what()).find("closed the connection"), std::string::npos) << e.what();
  }
}

TEST(DemoProtocol, SetupCarriesBothSemaphoreDescriptors) {
  SocketPair pair;
  const int ready = memfd_create("ready", MFD_CLOEXEC);
  const int freed = memfd_create("free", MFD_CLOEXEC);
  ASSERT_GE(ready, 0);
  ASSERT_GE(freed, 0);
  DemoSetup setup;
  setup.sync = 1;
  setup.frames = 9;
  setup.ring = 3;
  setup.slot_size = 4096;
  setup.handle_type = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  {
    const NtHandle ready_handle = NtHandle::FromFd(fcntl(ready, F_DUPFD_CLOEXEC, 1));
    const NtHandle free_handle = NtHandle::FromFd(fcntl(freed, F_DUPFD_CLOEXEC, 1));
    SendSetup(pair.fds[0], setup, ready_handle, free_handle);
  }
  const ReceivedSetup got = ReceiveSetup(pair.fds[1]);
  EXPECT_EQ(got.setup.frames, 9u);
  EXPECT_EQ(got.setup.ring, 3u);
  EXPECT_EQ(got.setup.handle_type, static_cast<uint32_t>(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT));
  ASSERT_TRUE(got.handles[kReady].valid());
  ASSERT_TRUE(got.handles[kFree].valid());
  EXPECT_EQ(Inode(got.handles[kReady].fd()), Inode(ready));
  EXPECT_EQ(Inode(got.handles[kFree].fd()), Inode(freed));
  close(ready);
  close(freed);
}

TEST(DemoProtocol, SetupWithOneDescriptorIsRefused) {
  SocketPair pair;
  DemoSetup setup;
  setup.ring = 1;
  setup.slot_size = 4096;
  const int one = memfd_create("one", MFD_CLOEXEC);
  ASSERT_GE(one, 0);
  iovec data{&setup, sizeof setup};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&message);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &one, sizeof one);
  ASSERT_EQ(sendmsg(pair.fds[0], &message, 0), static_cast<ssize_t>(sizeof setup));
  EXPECT_THROW(ReceiveSetup(pair.fds[1]), ToolError);
  close(one);
}

// The baseline's processes: every variable that enables a layer or adds a manifest folder is gone, and
// implicit layers are disabled.
TEST(DemoFd, LeaveLayersOutClearsTheLayerVariables) {
  std::vector<std::pair<std::string, std::string>> saved;
  for (const std::string_view name : LayerVariables()) {
    const std::string key(name);
    if (const char* value = std::getenv(key.c_str())) saved.emplace_back(key, value);
    setenv(key.c_str(), "VK_LAYER_NTBRIDGE_external_win32", 1);
  }
  LeaveLayersOut();
  for (const std::string_view name : LayerVariables()) {
    const std::string key(name);
    if (key == "VK_LOADER_LAYERS_DISABLE") {
      ASSERT_NE(std::getenv(key.c_str()), nullptr);
      EXPECT_STREQ(std::getenv(key.c_str()), "~all~");
    } else {
      EXPECT_EQ(std::getenv(key.c_str()), nullptr) << key;
    }
  }
  for (const std::string_view name : LayerVariables()) unsetenv(std::string(name).c_str());
  for (const auto& [key, value] : saved) setenv(key.c_str(), value.c_str(), 1);
}

}  // namespace
}  // namespace ntbridge::tool
