// Release rings (protocol revision 6): a client writes its one-way releases into a page shared with the
// broker, so that a vkFreeMemory of shared memory makes no system call and the broker's open makes none to
// find it; the broker reads every ring before it answers anything that depends on it, on a timer while
// releases come, and wakes for a release only when it sleeps (the doorbell). What came before (release
// sockets, releases on the connection) still works beside it.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "broker_client.hpp"
#include "broker_fixture.hpp"
#include "release_ring.hpp"
#include "wire.hpp"

namespace ntbridge::test {
namespace {

using protocol::Status;
using protocol::Type;

constexpr uint16_t Request(Type t) { return static_cast<uint16_t>(t); }

// A broker of `revision` in a thread of the test: answers kHello and kShareKmt, makes a ring (revision 6) or
// keeps a release socket (revision 4 and 5) when asked, and takes one-way messages without answer. It never
// reads the ring itself: the test does, as the broker would (Take).
class RingBroker {
 public:
  // `fake_ring`: answer kReleaseRing with a descriptor that is not a ring (an unsealed memfd).
  explicit RingBroker(uint32_t revision, bool fake_ring = false)
      : broker_([this, revision, fake_ring](int c, const protocol::Message& m, std::vector<int>& fds) {
          switch (static_cast<Type>(m.header.type)) {
            case Type::kHello:
              return SendPacket(c,
                                protocol::EncodeMessage(Type::kHello, true, protocol::HelloReply{revision}));
            case Type::kReleaseRing: {
              int fd = -1;
              std::string error;
              if (fake_ring) {
                fd = memfd_create("not-a-ring", MFD_CLOEXEC);
                if (ftruncate(fd, kReleaseRingBytes) != 0) return false;
              } else {
                std::lock_guard lock(mutex_);
                ring_ = ReleaseRing::Create(&fd, &error);
                if (ring_ == nullptr) return false;
              }
              const bool sent = SendPacket(
                  c, protocol::EncodeMessage(Type::kReleaseRing, true, protocol::StatusCodeReply{}), fd);
              close(fd);
              return sent;
            }
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
            case Type::kRingDoorbell:
              return true;
            default:
              return false;
          }
        }) {}
  ~RingBroker() {
    if (release_fd_ >= 0) close(release_fd_);
  }
  std::string path() const { return broker_.path; }
  std::vector<uint16_t> Types() { return broker_.Types(); }
  size_t Count(Type type) {
    size_t n = 0;
    for (uint16_t t : Types()) n += t == Request(type);
    return n;
  }
  // What the client wrote into its ring since the last call, read as the broker reads it.
  std::vector<uint64_t> TakeRing() {
    std::lock_guard lock(mutex_);
    std::vector<uint64_t> payloads;
    bool took = false;
    std::string why;
    EXPECT_NE(ring_, nullptr) << "no ring was asked for";
    if (ring_ != nullptr) {
      EXPECT_TRUE(ring_->Take([&](uint64_t p) { payloads.push_back(p); }, &took, &why)) << why;
    }
    return payloads;
  }
  void SetDoorbell(bool on) {
    std::lock_guard lock(mutex_);
    ASSERT_NE(ring_, nullptr);
    ring_->SetDoorbell(on);
  }

 private:
  std::mutex mutex_;
  std::unique_ptr<ReleaseRing> ring_;
  int release_fd_ = -1;  // written by the broker's thread before its reply, read by the test after it
  FakeBroker broker_;
};

// A client of the broker at `path` that has asked one request (so it is connected).
struct Client {
  explicit Client(const std::string& path) {
    client.SetOptions({path, "", false});
    Ask();
  }
  void Ask() {
    std::string error;
    protocol::ShareKmtReply kmt;
    ASSERT_TRUE(client.ShareKmt(5, &kmt, &error)) << error;
  }
  void Release(int n = 1) {
    std::string error;
    for (int i = 0; i < n; ++i) EXPECT_TRUE(client.ReleaseOneWay(5, &error)) << error;
  }
  BrokerClient client;
};

TEST(ReleaseRingClient, ReleasesGoIntoTheRingWithoutAnyMessage) {
  RingBroker broker(6);
  Client c(broker.path());
  EXPECT_EQ(c.client.Releases(), BrokerClient::ReleasePath::kRing);
  c.Release(3);
  c.Ask();
  EXPECT_EQ(broker.Types(), (std::vector<uint16_t>{Request(Type::kHello), Request(Type::kReleaseRing),
                                                   Request(Type::kShareKmt), Request(Type::kShareKmt)}))
      << "a release sent a message";
  EXPECT_EQ(broker.TakeRing(), (std::vector<uint64_t>{5, 5, 5}));
}

TEST(ReleaseRingClient, ABrokerOfRevision5GetsAReleaseSocket) {
  RingBroker broker(5);
  Client c(broker.path());
  EXPECT_EQ(c.client.Releases(), BrokerClient::ReleasePath::kSocket);
  EXPECT_EQ(broker.Types(), (std::vector<uint16_t>{Request(Type::kHello), Request(Type::kReleaseSocket),
                                                   Request(Type::kShareKmt)}));
}

// The test-only switch of the A/B measurement (docs/performance.md): a release socket, as with revision 5.
TEST(ReleaseRingClient, TheTestSwitchGivesAReleaseSocket) {
  RingBroker broker(6);
  setenv("NTBRIDGE_TEST_RELEASE_SOCKET", "1", 1);
  Client c(broker.path());
  unsetenv("NTBRIDGE_TEST_RELEASE_SOCKET");
  EXPECT_EQ(c.client.Releases(), BrokerClient::ReleasePath::kSocket);
}

// A broker that answers kReleaseRing with something that is not a sealed ring page is not written into.
TEST(ReleaseRingClient, SomethingElseThanARingIsNotTaken) {
  RingBroker broker(6, true);
  Client c(broker.path());
  EXPECT_EQ(c.client.Releases(), BrokerClient::ReleasePath::kSocket);
  EXPECT_EQ(broker.Types(), (std::vector<uint16_t>{Request(Type::kHello), Request(Type::kReleaseRing),
                                                   Request(Type::kReleaseSocket), Request(Type::kShareKmt)}));
}

// The doorbell rings exactly while the broker says it sleeps, after the release is in the ring.
TEST(ReleaseRingClient, TheDoorbellRingsOnlyWhileTheBrokerSleeps) {
  RingBroker broker(6);
  Client c(broker.path());
  broker.SetDoorbell(true);
  c.Release(2);
  broker.SetDoorbell(false);
  c.Release(1);
  c.Ask();
  EXPECT_EQ(broker.Count(Type::kRingDoorbell), 2u);
  EXPECT_EQ(broker.Count(Type::kReleaseOneWay), 0u);
  EXPECT_EQ(broker.TakeRing().size(), 3u);
}

// A broker that has not read the ring for a while (it reads it within 1 s): once it is full, releases go on
// the connection, which wakes the broker, and vkFreeMemory does not wait; once read, the ring takes them
// again.
TEST(ReleaseRingClient, AFullRingSpillsOntoTheConnection) {
  RingBroker broker(6);
  Client c(broker.path());
  const auto start = std::chrono::steady_clock::now();
  c.Release(kReleaseRingSlots + 20);
  c.Ask();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(broker.TakeRing().size(), kReleaseRingSlots);
  EXPECT_EQ(broker.Count(Type::kReleaseOneWay), 20u);
  c.Release(2);
  c.Ask();
  EXPECT_EQ(broker.TakeRing().size(), 2u);
  EXPECT_EQ(broker.Count(Type::kReleaseOneWay), 20u);
}

// With ntbridged.
class ReleaseRingBroker : public ::testing::Test {
 protected:
  void SetUp() override { Broker(); }
  void TearDown() override { Broker().StopBroker(); }
};

TEST_F(ReleaseRingBroker, TheLayersClientWritesIntoARing) {
  BrokerClient client;
  client.SetOptions({Broker().socket, NTBRIDGE_BROKER_PROGRAM, true});
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  std::string error;
  ASSERT_TRUE(client.Status(&entries, &status, &error)) << error;
  EXPECT_EQ(client.Releases(), BrokerClient::ReleasePath::kRing);
  EXPECT_EQ(client.BrokerRevision(), protocol::kRevision);
}

// The guarantees of test_drain.cpp, in rings: a release written before another process's request is seen by
// it, whoever the broker serves first, and a connection's own release comes before its request.
TEST_F(ReleaseRingBroker, AReleaseInARingIsTakenBeforeAnOpenIsAnswered) {
  RawConnection first;
  RawConnection owner;
  RawConnection last;
  ASSERT_EQ(owner.OpenReleaseRing(), Status::kOk);
  for (int i = 0; i < 20; ++i) {
    std::string name = "Local\\ring-" + std::to_string(i);
    uint32_t kmt = 0;
    uint64_t payload = owner.Publish(name, &kmt);
    ASSERT_NE(payload, 0u);
    {
      FrozenBroker frozen;
      ASSERT_TRUE(frozen.ok());
      if (owner.ReleaseInRing(payload) == ReleaseRing::PushResult::kQueuedRing) owner.SendDoorbell();
      first.SendOpen(name);
      last.SendOpen(kmt);
    }
    EXPECT_EQ(first.ReceiveOpen().status, Status::kNotFound) << "by name, iteration " << i;
    EXPECT_EQ(last.ReceiveOpen().status, Status::kNotFound) << "by KMT value, iteration " << i;
  }
  EXPECT_TRUE(first.Status().empty());
}

TEST_F(ReleaseRingBroker, AReleaseThenARequestOfTheSameClientKeepTheirOrder) {
  RawConnection watcher;
  RawConnection owner;
  ASSERT_EQ(owner.OpenReleaseRing(), Status::kOk);
  uint64_t payload = owner.Publish("Local\\again");
  {
    FrozenBroker frozen;
    owner.ReleaseInRing(payload);
    owner.SendPublish("Local\\again");
  }
  protocol::PublishReply again = owner.ReceivePublish();
  EXPECT_EQ(again.status, Status::kOk) << "the publish was answered before the release that came before it";
  // A KMT value of a payload the client released is not its to ask for.
  owner.ReleaseInRing(again.payload);
  owner.Send(Type::kShareKmt, protocol::PayloadRequest{again.payload});
  EXPECT_EQ(owner.Receive<protocol::ShareKmtReply>(Type::kShareKmt).status, Status::kNotHeld);
  EXPECT_TRUE(watcher.Status().empty());
}

// A full ring: the last release in it is taken before an open that came after it; the one after it does not
// fit (the client then sends it on its connection).
TEST_F(ReleaseRingBroker, AFullRingIsReadToItsLastRelease) {
  RawConnection first;
  RawConnection owner;
  ASSERT_EQ(owner.OpenReleaseRing(), Status::kOk);
  const std::string name = "Local\\ring-full";
  uint64_t payload = owner.Publish(name);
  ASSERT_NE(payload, 0u);
  {
    FrozenBroker frozen;
    ASSERT_TRUE(frozen.ok());
    for (uint32_t i = 0; i + 1 < kReleaseRingSlots; ++i) owner.ReleaseInRing(payload + 1);
    EXPECT_NE(owner.ReleaseInRing(payload), ReleaseRing::PushResult::kFull);
    EXPECT_EQ(owner.ReleaseInRing(payload + 1), ReleaseRing::PushResult::kFull);
    first.SendOpen(name);
  }
  EXPECT_EQ(first.ReceiveOpen().status, Status::kNotFound);
  EXPECT_NE(owner.ReleaseInRing(payload + 1), ReleaseRing::PushResult::kFull) << "the ring was not read";
  EXPECT_NE(Broker().Log().find("refused"), std::string::npos) << "the bogus releases were not logged";
}

// Nothing else comes: the release is still taken (the payload's descriptor closed at the broker) within about
// a second, by the timer, not by a wake-up.
TEST_F(ReleaseRingBroker, TheTimerTakesAReleaseWhenNothingElseComes) {
  RawConnection watcher;
  RawConnection owner;
  ASSERT_EQ(owner.OpenReleaseRing(), Status::kOk);
  uint64_t first = owner.Publish("Local\\first");
  uint64_t second = owner.Publish("Local\\second");
  ASSERT_NE(second, 0u);
  // The broker sleeps without reading the rings (no release came lately): this release rings, and the broker
  // reads the rings next in 1 s, without a doorbell meanwhile.
  EXPECT_EQ(owner.ReleaseInRing(first), ReleaseRing::PushResult::kQueuedRing);
  owner.SendDoorbell();
  EXPECT_EQ(watcher.Open("Local\\first").status, Status::kNotFound);
  const int fds = Broker().BrokerFdCount();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(owner.ReleaseInRing(second), ReleaseRing::PushResult::kQueued)
      << "the doorbell stayed set after the broker woke";
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Broker().BrokerFdCount(), fds) << "the release was taken at once";
  EXPECT_EQ(Broker().BrokerFdCountSettled(fds - 1), fds - 1) << "the release was not taken by the timer";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  EXPECT_TRUE(watcher.Status().empty());
}

// Once the timer found nothing more, the broker sleeps with the doorbells set: it does not wake up each
// second, and the next release rings and is taken at once.
TEST_F(ReleaseRingBroker, AnIdleBrokerSetsTheDoorbellAndTheNextReleaseRingsIt) {
  BrokerClient client;
  client.SetOptions({Broker().socket, NTBRIDGE_BROKER_PROGRAM, true});
  std::string error;
  std::vector<uint64_t> payloads;
  for (const char* name : {"Local\\first", "Local\\second"}) {
    int memfd = memfd_create("idle", MFD_CLOEXEC);
    protocol::PublishReply reply;
    ASSERT_TRUE(
        client.Publish(protocol::PublishRequest{protocol::kPublishName, {}, name}, memfd, &reply, &error))
        << error;
    close(memfd);
    payloads.push_back(reply.payload);
  }
  ASSERT_EQ(client.Releases(), BrokerClient::ReleasePath::kRing);
  ASSERT_TRUE(client.ReleaseOneWay(payloads[0], &error)) << error;  // the broker then reads on its timer
  const pid_t broker = Broker().PidFromFile();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the timer looks once (at 1 s), finds none
  const int fds = Broker().BrokerFdCount();                      // the first payload's descriptor is gone
  const long before = VoluntarySwitches(broker);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  EXPECT_EQ(VoluntarySwitches(broker), before) << "an idle broker woke up";
  ASSERT_TRUE(client.ReleaseOneWay(payloads[1], &error)) << error;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Broker().BrokerFdCountSettled(fds - 1), fds - 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900))
      << "the release waited for a timer, not for its doorbell";
  EXPECT_LT(VoluntarySwitches(broker) - before, 3);
}

// A page whose client claims more releases than it holds: that client's connection closes, with its holds,
// and nothing else changes. Payload ids that are not the client's are refused one by one and logged.
TEST_F(ReleaseRingBroker, AHostileRingClosesOnlyItsClient) {
  RawConnection watcher;
  RawConnection owner;
  ASSERT_NE(owner.Publish("Local\\mine"), 0u);
  RawConnection bogus;
  ASSERT_EQ(bogus.OpenReleaseRing(), Status::kOk);
  ASSERT_NE(bogus.Publish("Local\\bogus"), 0u);
  for (uint64_t id : {uint64_t{0}, ~uint64_t{0}, uint64_t{12345}}) bogus.ReleaseInRing(id);
  EXPECT_EQ(watcher.Open("Local\\bogus").status, Status::kOk) << "a bogus release took a real hold";
  EXPECT_FALSE(bogus.ClosedByBroker(100));
  RawConnection hostile;
  ASSERT_EQ(hostile.OpenReleaseRing(), Status::kOk);
  ASSERT_NE(hostile.Publish("Local\\hostile"), 0u);
  ASSERT_NE(hostile.ring_page(), nullptr);
  hostile.ring_page()->written.store(1u << 20);
  EXPECT_EQ(watcher.Open("Local\\hostile").status, Status::kNotFound) << "the hostile client kept its hold";
  EXPECT_TRUE(hostile.ClosedByBroker());
  EXPECT_EQ(watcher.Open("Local\\mine").status, Status::kOk);
  EXPECT_FALSE(bogus.ClosedByBroker(100));
  EXPECT_NE(Broker().Log().find("release ring claims"), std::string::npos);
}

TEST_F(ReleaseRingBroker, TheRingIsSealedAgainstResizing) {
  RawConnection owner;
  ASSERT_EQ(owner.OpenReleaseRing(), Status::kOk);
  const int seals = fcntl(owner.ring_fd(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  EXPECT_NE(ftruncate(owner.ring_fd(), 0), 0);
  EXPECT_EQ(errno, EPERM);
}

TEST_F(ReleaseRingBroker, OneRingOrSocketPerConnectionFromRevision6Only) {
  RawConnection old(5);
  old.SendRaw(protocol::Encode(Type::kReleaseRing, false, {}));
  EXPECT_TRUE(old.ClosedByBroker()) << "a client of revision 5 was given a ring";
  RawConnection twice;
  EXPECT_EQ(twice.OpenReleaseRing(), Status::kOk);
  EXPECT_EQ(twice.OpenReleaseRing(), Status::kBadRequest);
  twice.ReleaseInRing(12345);  // a ring in use stays
  EXPECT_EQ(twice.OpenReleaseSocket(), Status::kBadRequest);
  // A client that could not map its ring (it never writes into it) asks for a socket next, and gets it.
  RawConnection unmapped;
  EXPECT_EQ(unmapped.OpenReleaseRing(), Status::kOk);
  EXPECT_EQ(unmapped.OpenReleaseSocket(), Status::kOk);
  uint64_t payload = unmapped.Publish("Local\\unmapped");
  ASSERT_NE(payload, 0u);
  unmapped.ReleaseOnSocket(payload);
  EXPECT_EQ(twice.Open("Local\\unmapped").status, Status::kNotFound);
  RawConnection socket_first;
  EXPECT_EQ(socket_first.OpenReleaseSocket(), Status::kOk);
  EXPECT_EQ(socket_first.OpenReleaseRing(), Status::kBadRequest);
  RawConnection with_body;
  with_body.SendRaw(protocol::Encode(Type::kReleaseRing, false, std::vector<uint8_t>{1}));
  EXPECT_TRUE(with_body.ClosedByBroker());
}

}  // namespace
}  // namespace ntbridge::test
