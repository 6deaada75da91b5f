// libntbridge: sending semaphores and fences between processes over Unix sockets, refusing messages of
// another kind and malformed ones, and leaking no descriptor on any path.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <ntbridge/transfer.hpp>
#include <string>
#include <system_error>

#include "process.hpp"
#include "socket_pair.hpp"
#include "vk_fixture.hpp"

namespace ntbridge {
namespace {

constexpr uint32_t kNt = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
constexpr uint32_t kKmt = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
static_assert(kNt == VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT &&
              kKmt == VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT);

class SyncSockets : public test::SocketPairTest {};

SyncInfo Info(uint32_t kind, uint32_t type = kNt) {
  SyncInfo info{};
  info.kind = kind;
  info.handle_type = type;
  for (int i = 0; i < NTBRIDGE_UUID_SIZE; ++i) {
    info.device_uuid[i] = static_cast<uint8_t>(0x10 + i);
    info.driver_uuid[i] = static_cast<uint8_t>(0xe0 | i);
  }
  return info;
}

// A descriptor standing for a payload: what matters here is that the same object arrives.
NtHandle Payload() { return NtHandle::FromFd(memfd_create("sync-transfer-test", MFD_CLOEXEC)); }

// The code of the std::system_error `f` throws, with its text in *what; 0 when it throws none.
template <typename F>
int ErrorOf(F&& f, std::string* what = nullptr) {
  try {
    f();
  } catch (const std::system_error& e) {
    if (what != nullptr) *what = e.what();
    return e.code().value();
  }
  return 0;
}

TEST_P(SyncSockets, SemaphoreHandlesArriveWithTheirMetadata) {
  for (uint32_t kind : {NTBRIDGE_SYNC_BINARY_SEMAPHORE, NTBRIDGE_SYNC_TIMELINE_SEMAPHORE}) {
    NtHandle handle = Payload();
    ASSERT_TRUE(handle.valid());
    const SyncInfo sent = Info(kind);
    SendSemaphore(sender(), sent, handle);
    ASSERT_TRUE(handle.valid()) << "the sender keeps its handle";
    ReceivedSync got = ReceiveSemaphore(receiver());
    EXPECT_EQ(std::memcmp(&got.info, &sent, sizeof sent), 0) << "kind " << kind;
    EXPECT_EQ(got.info.kind, kind);
    ASSERT_TRUE(got.handle.valid());
    EXPECT_NE(got.handle.fd(), handle.fd());
    EXPECT_TRUE(got.handle.SameObject(handle));
    EXPECT_FALSE(got.handle.inheritable()) << "received handles are close-on-exec";
  }
}

TEST_P(SyncSockets, AFenceHandleArrivesWithItsMetadata) {
  NtHandle handle = Payload();
  const SyncInfo sent = Info(NTBRIDGE_SYNC_FENCE);
  ASSERT_EQ(ntbridge_send_fence(sender(), &sent, handle.get()), 0);
  SyncInfo got{};
  HANDLE received = nullptr;
  ASSERT_EQ(ntbridge_receive_fence(receiver(), &got, &received), 0);
  NtHandle owner(received);
  EXPECT_EQ(std::memcmp(&got, &sent, sizeof sent), 0);
  EXPECT_TRUE(owner.SameObject(handle));
}

TEST_P(SyncSockets, KmtValueAndNameTravelWithoutADescriptor) {
  SyncInfo kmt = Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, kKmt);
  kmt.global_share = 0x40000321;
  SendSemaphore(sender(), kmt);
  SyncInfo named = Info(NTBRIDGE_SYNC_FENCE);
  SetName(named, L"Global\\ntbridge-fence-test");
  SendFence(sender(), named);
  ReceivedSync first = ReceiveSemaphore(receiver());
  EXPECT_FALSE(first.handle.valid());
  EXPECT_EQ(first.info.global_share, 0x40000321u);
  EXPECT_EQ(first.info.kind, NTBRIDGE_SYNC_TIMELINE_SEMAPHORE);
  ReceivedSync second = ReceiveFence(receiver());
  EXPECT_FALSE(second.handle.valid());
  EXPECT_EQ(std::wstring(second.info.name), L"Global\\ntbridge-fence-test");
}

TEST_P(SyncSockets, InconsistentOrMisdirectedInfoIsNotSent) {
  NtHandle handle = Payload();
  const int before = test::CountOpenFds();
  SyncInfo fence = Info(NTBRIDGE_SYNC_FENCE);
  EXPECT_EQ(ntbridge_send_semaphore(sender(), &fence, handle.get()), EINVAL) << "a fence sent as a semaphore";
  SyncInfo binary = Info(NTBRIDGE_SYNC_BINARY_SEMAPHORE);
  EXPECT_EQ(ntbridge_send_fence(sender(), &binary, handle.get()), EINVAL) << "a semaphore sent as a fence";
  SyncInfo no_kind = Info(0);
  EXPECT_EQ(ntbridge_send_semaphore(sender(), &no_kind, handle.get()), EINVAL);
  SyncInfo kmt_with_handle = Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, kKmt);
  kmt_with_handle.global_share = 9;
  EXPECT_EQ(ntbridge_send_semaphore(sender(), &kmt_with_handle, handle.get()), EINVAL);
  SyncInfo kmt_without_value = Info(NTBRIDGE_SYNC_FENCE, kKmt);
  EXPECT_EQ(ntbridge_send_fence(sender(), &kmt_without_value, nullptr), EINVAL);
  SyncInfo nt_without_anything = Info(NTBRIDGE_SYNC_FENCE);
  EXPECT_EQ(ntbridge_send_fence(sender(), &nt_without_anything, nullptr), EINVAL);
  SyncInfo d3d12 = Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE, VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT);
  EXPECT_EQ(ntbridge_send_semaphore(sender(), &d3d12, handle.get()), EINVAL);
  EXPECT_EQ(ntbridge_send_semaphore(sender(), nullptr, handle.get()), EINVAL);
  EXPECT_THROW(SetName(binary, std::wstring(261, L'x')), std::length_error);
  std::string what;
  EXPECT_EQ(ErrorOf([&] { SendSemaphore(sender(), fence, handle); }, &what), EINVAL);
  EXPECT_NE(what.find("info.kind is a fence, not a semaphore"), std::string::npos) << what;
  EXPECT_EQ(test::CountOpenFds(), before) << "a refused send leaked a descriptor";
  // Nothing was sent: the next message is the first one.
  SendFence(sender(), fence, handle);
  EXPECT_EQ(ReceiveFence(receiver()).info.kind, NTBRIDGE_SYNC_FENCE);
}

// A receiver of one kind refuses a message of another, closes its descriptor, and stays in step with the
// stream: the message after it is received normally.
TEST_P(SyncSockets, AMessageOfAnotherKindIsRefusedClearly) {
  NtHandle handle = Payload();
  const int before = test::CountOpenFds();
  SendFence(sender(), Info(NTBRIDGE_SYNC_FENCE), handle);
  std::string what;
  EXPECT_EQ(ErrorOf([&] { (void)ReceiveSemaphore(receiver()); }, &what), ENOMSG);
  EXPECT_NE(what.find("the message carries a fence, not a semaphore"), std::string::npos) << what;
  EXPECT_EQ(test::CountOpenFds(), before) << "the refused message's descriptor was leaked";

  SendSemaphore(sender(), Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE), handle);
  SyncInfo info{};
  HANDLE received = nullptr;
  EXPECT_EQ(ntbridge_receive_fence(receiver(), &info, &received), ENOMSG);
  EXPECT_EQ(received, nullptr);
  MemoryInfo memory{};
  SendSemaphore(sender(), Info(NTBRIDGE_SYNC_BINARY_SEMAPHORE), handle);
  EXPECT_EQ(ntbridge_receive_memory(receiver(), &memory, &received), ENOMSG)
      << "memory receivers refuse sync";
  EXPECT_EQ(received, nullptr);
  EXPECT_EQ(test::CountOpenFds(), before);

  MemoryInfo allocation{};
  allocation.allocation_size = 4096;
  allocation.handle_type = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  SendMemory(sender(), allocation, handle);
  EXPECT_EQ(ErrorOf([&] { (void)ReceiveFence(receiver()); }, &what), ENOMSG);
  EXPECT_NE(what.find("the message carries memory, not a fence"), std::string::npos) << what;
  EXPECT_EQ(test::CountOpenFds(), before);

  SendSemaphore(sender(), Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE), handle);
  ReceivedSync after = ReceiveSemaphore(receiver());
  EXPECT_EQ(after.info.kind, NTBRIDGE_SYNC_TIMELINE_SEMAPHORE) << "the stream is out of step after a refusal";
  EXPECT_TRUE(after.handle.SameObject(handle));
}

TEST_P(SyncSockets, AClosedPeerIsENODATA) {
  CloseSender();
  SyncInfo info{};
  HANDLE handle = nullptr;
  EXPECT_EQ(ntbridge_receive_semaphore(receiver(), &info, &handle), ENODATA);
  EXPECT_EQ(handle, nullptr);
  std::string what;
  EXPECT_EQ(ErrorOf([&] { (void)ReceiveFence(receiver()); }, &what), ENODATA);
  EXPECT_NE(what.find("closed"), std::string::npos) << what;
}

TEST_P(SyncSockets, SendingOnAClosedConnectionFails) {
  close(fds_[1]);
  fds_[1] = -1;
  NtHandle handle = Payload();
  const SyncInfo binary = Info(NTBRIDGE_SYNC_BINARY_SEMAPHORE);
  const SyncInfo fence = Info(NTBRIDGE_SYNC_FENCE);
  EXPECT_EQ(ntbridge_send_semaphore(sender(), &binary, handle.get()), EPIPE);
  EXPECT_EQ(ErrorOf([&] { SendFence(sender(), fence, handle); }), EPIPE);
  EXPECT_EQ(ntbridge_send_fence(-1, &fence, handle.get()), EBADF);
}

// What the library sends for a semaphore or fence, byte for byte: the header of every transfer message and
// the sync body, in the room a memory body takes (every message has one length).
struct RawSync {
  uint32_t magic = 0x5342544e;  // "NTBS"
  uint16_t version = 1;
  uint16_t reserved = 0;
  uint32_t body_size = sizeof(SyncInfo);
  uint32_t reserved2 = 0;
  union {
    SyncInfo sync;
    MemoryInfo room;
  } body{};
  RawSync() { body.sync = Info(NTBRIDGE_SYNC_TIMELINE_SEMAPHORE); }
};

// Hostile or broken senders: every malformed message is refused, and any descriptor it carried is closed.
TEST_P(SyncSockets, MalformedMessagesAreRejectedAndTheirDescriptorsClosed) {
  static_assert(sizeof(RawSync) == 16 + sizeof(MemoryInfo));
  auto expect_rejected = [&](const RawSync& raw, size_t size, int fd, const char* what) {
    const int before = test::CountOpenFds();
    ASSERT_TRUE(test::SendFd(sender(), fd, &raw, size)) << what;
    int expected_fds = before;
    if (GetParam() == SOCK_STREAM && size < sizeof raw) {
      CloseSender();  // a short message, then EOF
      --expected_fds;
    }
    SyncInfo info{};
    HANDLE handle = nullptr;
    const int error = ntbridge_receive_semaphore(receiver(), &info, &handle);
    EXPECT_EQ(error, EBADMSG) << what << ": " << std::strerror(error);
    EXPECT_EQ(handle, nullptr) << what;
    EXPECT_EQ(test::CountOpenFds(), expected_fds) << what << ": a received descriptor was leaked";
  };
  NtHandle payload = Payload();
  const int fd = payload.fd();
  RawSync good;
  // The raw message itself is accepted, so that each case below fails for its one defect only.
  ASSERT_TRUE(test::SendFd(sender(), fd, &good, sizeof good));
  ReceivedSync accepted = ReceiveSemaphore(receiver());
  EXPECT_TRUE(accepted.handle.SameObject(payload));
  accepted.handle.Reset();

  RawSync bad_magic;
  bad_magic.magic = 0x12345678;
  expect_rejected(bad_magic, sizeof good, fd, "wrong magic");
  RawSync bad_version;
  bad_version.version = 2;
  expect_rejected(bad_version, sizeof good, fd, "unknown version");
  RawSync memory_size;
  memory_size.body_size = sizeof(MemoryInfo);
  expect_rejected(memory_size, sizeof good, fd, "a sync magic with a memory body's size");
  RawSync bad_kind;
  bad_kind.body.sync.kind = 7;
  expect_rejected(bad_kind, sizeof good, fd, "an unknown kind");
  expect_rejected(good, sizeof good, -1, "an NT message without a handle or name");
  RawSync kmt;
  kmt.body.sync.handle_type = kKmt;
  kmt.body.sync.global_share = 0x40000001;
  expect_rejected(kmt, sizeof good, fd, "a KMT message with a descriptor");
  RawSync unterminated;
  std::wmemset(unterminated.body.sync.name, L'x', NTBRIDGE_MAX_NAME + 1);
  expect_rejected(unterminated, sizeof good, -1, "a name without its NUL");
  expect_rejected(good, sizeof good / 2, fd, "a short message");
}

TEST_P(SyncSockets, ManyRoundTripsLeakNothing) {
  NtHandle handle = Payload();
  const int before = test::CountOpenFds();
  for (int i = 0; i < 64; ++i) {
    const bool fence = i % 2 == 1;
    if (fence) {
      SendFence(sender(), Info(NTBRIDGE_SYNC_FENCE), handle);
      EXPECT_TRUE(ReceiveFence(receiver()).handle.SameObject(handle));
    } else {
      SendSemaphore(sender(), Info(NTBRIDGE_SYNC_BINARY_SEMAPHORE), handle);
      EXPECT_TRUE(ReceiveSemaphore(receiver()).handle.SameObject(handle));
    }
  }
  EXPECT_EQ(test::CountOpenFds(), before);
}

INSTANTIATE_TEST_SUITE_P(SocketTypes, SyncSockets, ::testing::Values(SOCK_STREAM, SOCK_SEQPACKET),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return param.param == SOCK_STREAM ? std::string("Stream")
                                                             : std::string("SeqPacket");
                         });

}  // namespace
}  // namespace ntbridge
