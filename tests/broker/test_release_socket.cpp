// Release sockets (protocol revision 4): a client's one-way releases go on a socket of their own, which the
// broker does not poll, so that a vkFreeMemory of shared memory wakes no one; the broker reads it before it
// answers anything that depends on it, on a timer when nothing else comes, and drops everything when the
// connection closes. What came before revision 4 (releases on the connection) still works beside it.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "broker_client.hpp"
#include "broker_fixture.hpp"
#include "wire.hpp"

namespace ntbridge::test {
namespace {

using protocol::Status;
using protocol::Type;

constexpr uint16_t Request(Type t) { return static_cast<uint16_t>(t); }

// A broker of `revision` in a thread of the test: answers kHello and kShareKmt, keeps the release socket it
// is given (revision 4) and takes one-way releases on the connection without answer.
class RecordingBroker {
 public:
  explicit RecordingBroker(uint32_t revision)
      : broker_([this, revision](int c, const protocol::Message& m, std::vector<int>& fds) {
          switch (static_cast<Type>(m.header.type)) {
            case Type::kHello:
              return SendPacket(c,
                                protocol::EncodeMessage(Type::kHello, true, protocol::HelloReply{revision}));
            case Type::kReleaseSocket:
              if (fds.size() != 1) return false;
              release_fd_ = fds[0];
              fds.clear();
              return SendPacket(
                  c, protocol::EncodeMessage(Type::kReleaseSocket, true, protocol::StatusCodeReply{}));
            case Type::kShareKmt:
              return SendPacket(
                  c, protocol::EncodeMessage(Type::kShareKmt, true, protocol::ShareKmtReply{Status::kOk, 7}));
            case Type::kReleaseOneWay:
              return true;
            default:
              return false;
          }
        }) {}
  ~RecordingBroker() {
    if (release_fd_ >= 0) close(release_fd_);
  }
  std::string path() const { return broker_.path; }
  std::vector<uint16_t> Types() { return broker_.Types(); }
  // The messages queued on the release socket, by type.
  std::vector<uint16_t> ReleaseSocketTypes() {
    std::vector<uint16_t> types;
    for (;;) {
      std::vector<uint8_t> bytes;
      std::vector<int> fds;
      std::string why;
      if (release_fd_ < 0 || ReceivePacket(release_fd_, &bytes, &fds, &why, false) != ReceiveResult::kOk)
        break;
      CloseAll(&fds);
      auto m = protocol::DecodeMessage(bytes, &why);
      types.push_back(m ? m->header.type : 0);
    }
    return types;
  }

 private:
  int release_fd_ = -1;  // written by the broker's thread before its reply, read by the test after it
  FakeBroker broker_;
};

// One request (which connects), `releases` one-way releases, and a request again (once it is answered, the
// broker has read everything before it on the connection).
void RequestThenRelease(const std::string& path, int releases) {
  BrokerClient client;
  client.SetOptions({path, "", false});
  std::string error;
  protocol::ShareKmtReply kmt;
  ASSERT_TRUE(client.ShareKmt(5, &kmt, &error)) << error;
  for (int i = 0; i < releases; ++i) EXPECT_TRUE(client.ReleaseOneWay(5, &error)) << error;
  ASSERT_TRUE(client.ShareKmt(5, &kmt, &error)) << error;
}

TEST(ReleaseSocketClient, ReleasesGoOnTheReleaseSocketNotOnThePolledConnection) {
  RecordingBroker broker(4);
  RequestThenRelease(broker.path(), 3);
  EXPECT_EQ(broker.Types(), (std::vector<uint16_t>{Request(Type::kHello), Request(Type::kReleaseSocket),
                                                   Request(Type::kShareKmt), Request(Type::kShareKmt)}))
      << "a release went on the connection, which wakes the broker";
  EXPECT_EQ(broker.ReleaseSocketTypes(), std::vector<uint16_t>(3, Request(Type::kReleaseOneWay)));
}

TEST(ReleaseSocketClient, ABrokerOfRevision3GetsReleasesOnTheConnection) {
  RecordingBroker broker(3);
  RequestThenRelease(broker.path(), 2);
  EXPECT_EQ(broker.Types(), (std::vector<uint16_t>{Request(Type::kHello), Request(Type::kShareKmt),
                                                   Request(Type::kReleaseOneWay),
                                                   Request(Type::kReleaseOneWay), Request(Type::kShareKmt)}));
}

// The test-only switch of the A/B measurement (docs/performance.md): the connection, as before revision 4.
TEST(ReleaseSocketClient, TheTestSwitchKeepsReleasesOnTheConnection) {
  RecordingBroker broker(4);
  setenv("NTBRIDGE_TEST_POLLED_RELEASES", "1", 1);
  RequestThenRelease(broker.path(), 2);
  unsetenv("NTBRIDGE_TEST_POLLED_RELEASES");
  EXPECT_EQ(broker.Types(), (std::vector<uint16_t>{Request(Type::kHello), Request(Type::kShareKmt),
                                                   Request(Type::kReleaseOneWay),
                                                   Request(Type::kReleaseOneWay), Request(Type::kShareKmt)}));
}

// A broker that has not read the release socket for a while (it reads it within 1 s): once it is full, a
// release goes on the connection, which wakes the broker, and vkFreeMemory does not wait.
TEST(ReleaseSocketClient, AFullReleaseSocketSpillsOntoTheConnection) {
  RecordingBroker broker(4);
  const auto start = std::chrono::steady_clock::now();
  RequestThenRelease(broker.path(), 5000);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  const auto on_socket = broker.ReleaseSocketTypes().size();
  size_t on_connection = 0;
  for (uint16_t t : broker.Types()) on_connection += t == Request(Type::kReleaseOneWay);
  EXPECT_GT(on_socket, 0u);
  EXPECT_GT(on_connection, 0u) << "the release socket held all 5000";
  EXPECT_EQ(on_socket + on_connection, 5000u);
}

// With the broker of the test process (ntbridged).
class ReleaseSocket : public ::testing::Test {
 protected:
  void SetUp() override { Broker(); }
  void TearDown() override { Broker().StopBroker(); }
};

// The releases come 10 ms apart, so that a broker woken by one is asleep again before the next (the first
// may find the broker polling its release sockets, as nothing came on them lately: then it reads them next in
// 1 s, and the others wake no one).
TEST_F(ReleaseSocket, ReleasesDoNotWakeTheBrokerYetAreSeenByTheNextOpen) {
  RawConnection watcher;
  BrokerClient client;
  client.SetOptions({Broker().socket, NTBRIDGE_BROKER_PROGRAM, false});
  std::string error;
  constexpr int kShares = 20;
  std::vector<uint64_t> payloads;
  for (int i = 0; i < kShares; ++i) {
    int memfd = memfd_create("quiet", MFD_CLOEXEC);
    protocol::PublishReply reply;
    ASSERT_TRUE(client.Publish(
        protocol::PublishRequest{protocol::kPublishName, {}, "Local\\quiet-" + std::to_string(i)}, memfd,
        &reply, &error))
        << error;
    close(memfd);
    ASSERT_EQ(reply.status, Status::kOk);
    payloads.push_back(reply.payload);
  }
  const pid_t broker = Broker().PidFromFile();
  ASSERT_GT(broker, 0);
  const long before = VoluntarySwitches(broker);
  for (uint64_t p : payloads) {
    ASSERT_TRUE(client.ReleaseOneWay(p, &error)) << error;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const long woken = VoluntarySwitches(broker) - before;
  EXPECT_LE(woken, 3) << kShares << " releases woke the broker " << woken << " times";
  EXPECT_EQ(watcher.Open("Local\\quiet-" + std::to_string(kShares - 1)).status, Status::kNotFound);
  EXPECT_TRUE(watcher.Status().empty());
}

// Nothing else comes: the release is still taken (the payload's descriptor closed at the broker) within about
// a second, by the timer, not by a wake-up.
TEST_F(ReleaseSocket, TheTimerTakesAReleaseWhenNothingElseComes) {
  RawConnection watcher;
  RawConnection owner;
  ASSERT_EQ(owner.OpenReleaseSocket(), Status::kOk);
  uint64_t first = owner.Publish("Local\\first");
  uint64_t second = owner.Publish("Local\\second");
  ASSERT_NE(second, 0u);
  // The broker's release sockets are polled (no release came lately): this one wakes it, and it reads the
  // sockets next in 1 s, not polling them meanwhile.
  owner.ReleaseOnSocket(first);
  EXPECT_EQ(watcher.Open("Local\\first").status, Status::kNotFound);
  const int fds = Broker().BrokerFdCount();
  const auto start = std::chrono::steady_clock::now();
  owner.ReleaseOnSocket(second);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Broker().BrokerFdCount(), fds) << "the release woke the broker";
  EXPECT_EQ(Broker().BrokerFdCountSettled(fds - 1), fds - 1) << "the release was not taken by the timer";
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(waited, std::chrono::milliseconds(2500));
  EXPECT_TRUE(watcher.Status().empty());
}

// Once the timer found nothing more, the release sockets are polled again: a release alone is taken at once,
// and the broker does not wake up each second meanwhile.
TEST_F(ReleaseSocket, AnIdleBrokerSleepsAndTheNextReleaseWakesIt) {
  RawConnection owner;
  ASSERT_EQ(owner.OpenReleaseSocket(), Status::kOk);
  uint64_t first = owner.Publish("Local\\first");
  uint64_t second = owner.Publish("Local\\second");
  owner.ReleaseOnSocket(first);  // wakes the broker, which then reads the sockets on its timer
  owner.SendStatus();
  owner.ReceiveStatus();
  const pid_t broker = Broker().PidFromFile();
  const int fds = Broker().BrokerFdCount();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the timer looks once (at 1 s), finds none
  const long before = VoluntarySwitches(broker);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  EXPECT_EQ(VoluntarySwitches(broker), before) << "an idle broker woke up";
  owner.ReleaseOnSocket(second);
  EXPECT_EQ(Broker().BrokerFdCountSettled(fds - 1), fds - 1);
  EXPECT_LT(VoluntarySwitches(broker) - before, 3);
}

// The guarantees of test_drain.cpp, on release sockets: a release queued before another process's request
// is seen by it, whoever the broker serves first, and a connection's own release comes before its request.
TEST_F(ReleaseSocket, AReleaseQueuedOnAReleaseSocketIsTakenBeforeAnOpenIsAnswered) {
  RawConnection first;
  RawConnection owner;
  RawConnection last;
  ASSERT_EQ(owner.OpenReleaseSocket(), Status::kOk);
  for (int i = 0; i < 20; ++i) {
    std::string name = "Local\\socket-" + std::to_string(i);
    uint32_t kmt = 0;
    uint64_t payload = owner.Publish(name, &kmt);
    ASSERT_NE(payload, 0u);
    {
      FrozenBroker frozen;
      ASSERT_TRUE(frozen.ok());
      owner.ReleaseOnSocket(payload);
      first.SendOpen(name);
      last.SendOpen(kmt);
    }
    EXPECT_EQ(first.ReceiveOpen().status, Status::kNotFound) << "by name, iteration " << i;
    EXPECT_EQ(last.ReceiveOpen().status, Status::kNotFound) << "by KMT value, iteration " << i;
  }
  EXPECT_TRUE(first.Status().empty());
}

TEST_F(ReleaseSocket, AReleaseThenARequestOfTheSameClientKeepTheirOrder) {
  RawConnection watcher;
  RawConnection owner;
  ASSERT_EQ(owner.OpenReleaseSocket(), Status::kOk);
  uint64_t payload = owner.Publish("Local\\again");
  {
    FrozenBroker frozen;
    owner.ReleaseOnSocket(payload);
    owner.SendPublish("Local\\again");
  }
  protocol::PublishReply again = owner.ReceivePublish();
  EXPECT_EQ(again.status, Status::kOk) << "the publish was answered before the release that came before it";
  // A KMT value of a payload the client released is not its to ask for.
  owner.ReleaseOnSocket(again.payload);
  owner.Send(Type::kShareKmt, protocol::PayloadRequest{again.payload});
  EXPECT_EQ(owner.Receive<protocol::ShareKmtReply>(Type::kShareKmt).status, Status::kNotHeld);
  EXPECT_TRUE(watcher.Status().empty());
}

// However many releases wait on a release socket (its sender's buffer decides), the last is taken before an
// open that came after it is answered: the broker reads what was queued, not a fixed count.
TEST_F(ReleaseSocket, AReleaseBehindThousandsOfOthersOnTheReleaseSocketIsStillTaken) {
  RawConnection first;
  RawConnection owner;
  ASSERT_EQ(owner.OpenReleaseSocket(), Status::kOk);
  int big = 4 << 20;
  setsockopt(owner.release_fd(), SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  const std::string name = "Local\\socket-deep";
  uint64_t payload = owner.Publish(name);
  ASSERT_NE(payload, 0u);
  int ahead = 0;
  {
    FrozenBroker frozen;
    ASSERT_TRUE(frozen.ok());
    while (ahead < 6000 && owner.TryReleaseOnSocket(payload + 1)) ++ahead;
    if (ahead < 4200 || !owner.TryReleaseOnSocket(payload)) {
      GTEST_SKIP() << "this machine's socket buffers (net.core.wmem_max) hold only " << ahead
                   << " small messages, so no socket can queue the thousands this test needs";
    }
    first.SendOpen(name);
  }
  EXPECT_EQ(first.ReceiveOpen().status, Status::kNotFound)
      << "an open answered with " << ahead << " releases and then the last holder's queued before it";
}

// The broker reads a release socket in batches of 16 (one recvmmsg), then counts what is left: the release
// that matters is taken whether it is inside the first batch, its last entry, or just behind it.
TEST_F(ReleaseSocket, AReleaseAtEveryPlaceAroundABatchIsTaken) {
  RawConnection first;
  RawConnection owner;
  ASSERT_EQ(owner.OpenReleaseSocket(), Status::kOk);
  for (int ahead : {0, 1, 14, 15, 16, 17, 31, 32, 33}) {
    const std::string name = "Local\\socket-batch-" + std::to_string(ahead);
    uint64_t payload = owner.Publish(name);
    ASSERT_NE(payload, 0u);
    {
      FrozenBroker frozen;
      ASSERT_TRUE(frozen.ok());
      // Releases of a payload the owner does not hold are refused (and logged), one packet each.
      for (int i = 0; i < ahead; ++i) ASSERT_TRUE(owner.TryReleaseOnSocket(payload + 1));
      owner.ReleaseOnSocket(payload);
      first.SendOpen(name);
    }
    EXPECT_EQ(first.ReceiveOpen().status, Status::kNotFound)
        << ahead << " releases ahead of the one that counts";
  }
  EXPECT_TRUE(first.Status().empty());
}

// The connection closes: every hold goes, whatever its release socket held; the release socket closes: the
// client is gone (or broken), and its connection closes too.
TEST_F(ReleaseSocket, AClosedConnectionOrReleaseSocketDropsEveryHold) {
  RawConnection watcher;
  auto owner = std::make_unique<RawConnection>();
  ASSERT_EQ(owner->OpenReleaseSocket(), Status::kOk);
  uint64_t released = owner->Publish("Local\\released");
  ASSERT_NE(owner->Publish("Local\\held"), 0u);
  const int fds = Broker().BrokerFdCount();
  {
    FrozenBroker frozen;
    owner->ReleaseOnSocket(released);
    owner.reset();  // as its process ends
    watcher.SendOpen("Local\\held");
  }
  EXPECT_EQ(watcher.ReceiveOpen().status, Status::kNotFound);
  EXPECT_TRUE(watcher.Status().empty());
  EXPECT_EQ(Broker().BrokerFdCountSettled(fds - 4), fds - 4)
      << "the connection, its release socket or a payload's descriptor stayed open";

  RawConnection half;
  ASSERT_EQ(half.OpenReleaseSocket(), Status::kOk);
  ASSERT_NE(half.Publish("Local\\half"), 0u);
  half.CloseReleaseSocket();
  EXPECT_TRUE(half.ClosedByBroker()) << "a client without its release socket kept its connection";
  EXPECT_EQ(watcher.Open("Local\\half").status, Status::kNotFound);
}

// Anything but a well-formed one-way release on a release socket closes that client's connection, when the
// broker next reads the socket, and nothing else.
TEST_F(ReleaseSocket, HostileMessagesOnAReleaseSocketCloseOnlyThatClient) {
  RawConnection survivor;
  uint32_t kmt = 0;
  ASSERT_NE(survivor.Publish("Local\\survivor", &kmt), 0u);
  const pid_t broker = Broker().PidFromFile();
  const int fds = Broker().BrokerFdCount();
  int memfd = memfd_create("hostile", MFD_CLOEXEC);
  auto release = protocol::EncodeMessage(Type::kReleaseOneWay, false, protocol::PayloadRequest{1});
  std::vector<uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  std::vector<uint8_t> truncated(release.begin(), release.begin() + 8);
  std::vector<uint8_t> short_body(release.begin(), release.end() - 1);
  std::vector<uint8_t> oversized = release;
  oversized.resize(protocol::kMaxMessage + 100, 0);
  auto as_reply =
      protocol::Encode(Type::kReleaseOneWay, true, protocol::EncodeBody(protocol::PayloadRequest{1}));
  auto open = protocol::EncodeMessage(Type::kOpen, false, protocol::OpenRequest{kmt, ""});
  auto status = protocol::Encode(Type::kStatus, false, {});
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    std::vector<int> fds;
  };
  for (const Case& c :
       {Case{"garbage", garbage, {}}, Case{"truncated", truncated, {}}, Case{"short body", short_body, {}},
        Case{"oversized", oversized, {}}, Case{"a reply", as_reply, {}}, Case{"an open", open, {}},
        Case{"a status request", status, {}}, Case{"a release with a descriptor", release, {memfd}},
        Case{"a release with four descriptors", release, {memfd, memfd, memfd, memfd}},
        Case{"an empty packet", {}, {}}}) {
    RawConnection hostile;
    ASSERT_EQ(hostile.OpenReleaseSocket(), Status::kOk);
    ASSERT_NE(hostile.Publish(std::string("Local\\hostile")), 0u) << c.what;
    hostile.SendOnReleaseSocket(c.bytes, c.fds);
    EXPECT_EQ(survivor.Open("Local\\hostile").status, Status::kNotFound) << c.what << " was not read";
    EXPECT_TRUE(hostile.ClosedByBroker()) << c.what << " on a release socket did not close its connection";
  }
  close(memfd);
  EXPECT_EQ(Broker().PidFromFile(), broker) << "the broker died";
  EXPECT_EQ(Broker().BrokerFdCountSettled(fds), fds) << "the broker kept descriptors of closed clients";
  survivor.SendOpen(kmt);
  EXPECT_EQ(survivor.ReceiveOpen().status, Status::kOk) << "another client was hurt";
  EXPECT_NE(Broker().Log().find("on its release socket"), std::string::npos) << Broker().Log();
}

// What may be offered as a release socket: a connected Unix seqpacket socket of this user, one per
// connection, from a client of revision 4. Anything else is refused (and the connection goes on) or, where
// the message itself is wrong, closes the connection.
TEST_F(ReleaseSocket, OnlyAConnectedSeqpacketSocketIsTakenAsAReleaseSocket) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  int stream[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stream), 0);
  int unconnected = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  int memfd = memfd_create("not-a-socket", MFD_CLOEXEC);
  RawConnection c;
  EXPECT_EQ(c.OfferReleaseSocket(pipe_fds[0]), Status::kBadRequest) << "a pipe";
  EXPECT_EQ(c.OfferReleaseSocket(stream[0]), Status::kBadRequest) << "a stream socket";
  EXPECT_EQ(c.OfferReleaseSocket(unconnected), Status::kBadRequest) << "an unconnected socket";
  EXPECT_EQ(c.OfferReleaseSocket(memfd), Status::kBadRequest) << "a file";
  EXPECT_EQ(c.OpenReleaseSocket(), Status::kOk);
  EXPECT_EQ(c.OpenReleaseSocket(), Status::kBadRequest) << "a second one";
  EXPECT_NE(c.Publish("Local\\still-served"), 0u) << "a refused socket closed the connection";
  for (int fd : {pipe_fds[0], pipe_fds[1], stream[0], stream[1], unconnected, memfd}) close(fd);

  RawConnection old(3);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  EXPECT_TRUE(SendWithFds(old.fd(), protocol::Encode(Type::kReleaseSocket, false, {}), {pair[1]}));
  EXPECT_TRUE(old.ClosedByBroker()) << "a client of revision 3 gave a release socket";
  RawConnection without;
  EXPECT_TRUE(SendWithFds(without.fd(), protocol::Encode(Type::kReleaseSocket, false, {}), {}));
  EXPECT_TRUE(without.ClosedByBroker()) << "a release socket request without its socket";
  RawConnection with_body;
  EXPECT_TRUE(SendWithFds(with_body.fd(),
                          protocol::Encode(Type::kReleaseSocket, false, std::vector<uint8_t>{1}), {pair[1]}));
  EXPECT_TRUE(with_body.ClosedByBroker()) << "a release socket request with a body";
  close(pair[0]);
  close(pair[1]);
}

}  // namespace
}  // namespace ntbridge::test
