// libntbridge: sending shared memory between processes over Unix sockets, and rejecting malformed messages.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <ntbridge/transfer.hpp>
#include <system_error>

#include "process.hpp"
#include "socket_pair.hpp"
#include "vk_fixture.hpp"

namespace ntbridge {
namespace {

constexpr uint32_t kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
constexpr uint32_t kKmt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

class Sockets : public test::SocketPairTest {};

MemoryInfo Info(uint32_t type) {
  MemoryInfo info{};
  info.allocation_size = 1 << 20;
  info.memory_type_index = 3;
  info.handle_type = type;
  for (int i = 0; i < NTBRIDGE_UUID_SIZE; ++i) {
    info.device_uuid[i] = static_cast<uint8_t>(i);
    info.driver_uuid[i] = static_cast<uint8_t>(0xf0 | i);
  }
  return info;
}

// What the library sends, byte for byte: {magic, version, reserved, body size, reserved} and the body.
struct RawMessage {
  uint32_t magic = 0x4d42544e;
  uint16_t version = 1;
  uint16_t reserved = 0;
  uint32_t body_size = sizeof(MemoryInfo);
  uint32_t reserved2 = 0;
  MemoryInfo body = Info(kKmt);
  RawMessage() { body.global_share = 0x40000002; }
};

int ReceiveError(int socket) {
  MemoryInfo info{};
  HANDLE handle = nullptr;
  const int error = ntbridge_receive_memory(socket, &info, &handle);
  EXPECT_EQ(handle, nullptr);
  return error;
}

TEST_P(Sockets, NtHandleArrivesWithItsMetadata) {
  NtHandle handle = NtHandle::FromFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  const MemoryInfo sent = Info(kNt);
  SendMemory(sender(), sent, handle);
  ASSERT_TRUE(handle.valid()) << "the sender keeps its handle";
  ReceivedMemory got = ReceiveMemory(receiver());
  EXPECT_EQ(std::memcmp(&got.info, &sent, sizeof sent), 0);
  ASSERT_TRUE(got.handle.valid());
  EXPECT_NE(got.handle.fd(), handle.fd());
  EXPECT_TRUE(got.handle.SameObject(handle));
  EXPECT_FALSE(got.handle.inheritable()) << "received handles are close-on-exec";
}

TEST_P(Sockets, KmtValueAndNameTravelWithoutADescriptor) {
  MemoryInfo kmt = Info(kKmt);
  kmt.global_share = 0x40000123;
  SendMemory(sender(), kmt);
  MemoryInfo named = Info(kNt);
  SetName(named, L"Local\\ntbridge-test");
  SendMemory(sender(), named);
  ReceivedMemory first = ReceiveMemory(receiver());
  EXPECT_FALSE(first.handle.valid());
  EXPECT_EQ(first.info.global_share, 0x40000123u);
  ReceivedMemory second = ReceiveMemory(receiver());
  EXPECT_FALSE(second.handle.valid());
  EXPECT_EQ(std::wstring(second.info.name), L"Local\\ntbridge-test");
}

TEST_P(Sockets, InconsistentMessagesAreNotSent) {
  NtHandle handle = NtHandle::FromFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  MemoryInfo kmt_with_handle = Info(kKmt);
  kmt_with_handle.global_share = 7;
  EXPECT_EQ(ntbridge_send_memory(sender(), &kmt_with_handle, handle.get()), EINVAL);
  MemoryInfo nt_without_anything = Info(kNt);
  EXPECT_EQ(ntbridge_send_memory(sender(), &nt_without_anything, nullptr), EINVAL);
  MemoryInfo d3d = Info(VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT);
  EXPECT_EQ(ntbridge_send_memory(sender(), &d3d, handle.get()), EINVAL);
  MemoryInfo empty = Info(kNt);
  empty.allocation_size = 0;
  EXPECT_EQ(ntbridge_send_memory(sender(), &empty, handle.get()), EINVAL);
  EXPECT_THROW(SetName(empty, std::wstring(261, L'x')), std::length_error);
}

TEST_P(Sockets, PeerClosedIsENODATA) {
  CloseSender();
  EXPECT_EQ(ReceiveError(receiver()), ENODATA);
  try {
    (void)ReceiveMemory(receiver());
    FAIL() << "ReceiveMemory succeeded on a closed socket";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENODATA);
  }
}

// Hostile or broken senders: every malformed message is refused, and any descriptor it carried is closed.
TEST_P(Sockets, MalformedMessagesAreRejectedAndTheirDescriptorsClosed) {
  auto expect_rejected = [&](const RawMessage& raw, size_t size, int fd, int extra_fd, const char* what) {
    const int before = test::CountOpenFds();
    if (fd >= 0 && extra_fd >= 0) {
      // Two descriptors in one message.
      iovec iov{const_cast<RawMessage*>(&raw), size};
      alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(2 * sizeof(int));
      int both[2] = {fd, extra_fd};
      std::memcpy(CMSG_DATA(c), both, sizeof both);
      ASSERT_EQ(sendmsg(sender(), &msg, 0), static_cast<ssize_t>(size));
    } else {
      ASSERT_TRUE(test::SendFd(sender(), fd, &raw, size)) << what;
    }
    int expected_fds = before;
    if (GetParam() == SOCK_STREAM && size < sizeof raw) {
      CloseSender();  // a short message, then EOF
      --expected_fds;
    }
    const int error = ReceiveError(receiver());
    EXPECT_EQ(error, EBADMSG) << what << ": " << std::strerror(error);
    EXPECT_EQ(test::CountOpenFds(), expected_fds) << what << ": a received descriptor was leaked";
  };
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  RawMessage raw;
  RawMessage bad_magic;
  bad_magic.magic = 0x12345678;
  expect_rejected(bad_magic, sizeof raw, -1, -1, "wrong magic");
  RawMessage bad_version;
  bad_version.version = 99;
  expect_rejected(bad_version, sizeof raw, -1, -1, "unknown version");
  RawMessage bad_size;
  bad_size.body_size = 12;
  expect_rejected(bad_size, sizeof raw, -1, -1, "wrong body size");
  expect_rejected(raw, sizeof raw, null_fd, -1, "a KMT message with a descriptor");
  RawMessage unterminated;
  unterminated.body.handle_type = kNt;
  unterminated.body.global_share = 0;
  std::wmemset(unterminated.body.name, L'x', NTBRIDGE_MAX_NAME + 1);
  expect_rejected(unterminated, sizeof raw, -1, -1, "a name without its NUL");
  RawMessage nt;
  nt.body.handle_type = kNt;
  nt.body.global_share = 0;
  expect_rejected(nt, sizeof raw, null_fd, null_fd, "two descriptors");
  expect_rejected(raw, sizeof raw / 2, -1, -1, "a short message");
  close(null_fd);
}

INSTANTIATE_TEST_SUITE_P(SocketTypes, Sockets, ::testing::Values(SOCK_STREAM, SOCK_SEQPACKET),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return param.param == SOCK_STREAM ? std::string("Stream")
                                                             : std::string("SeqPacket");
                         });

}  // namespace
}  // namespace ntbridge
