// One-way releases at the broker (protocol.hpp, server.cpp): a release is never answered, yet every request
// that another connection sends after it was queued sees it, whichever connection the broker serves first.
// The broker is stopped (SIGSTOP) while the messages are queued, so that they all meet in one turn of its
// loop; the connections speak the protocol directly, as a client of any kind could.
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "broker_client.hpp"
#include "broker_fixture.hpp"
#include "broker_launch.hpp"
#include "wire.hpp"

namespace ntbridge::test {
namespace {

using protocol::Status;
using protocol::Type;

const protocol::StatusEntry* Find(const std::vector<protocol::StatusEntry>& entries,
                                  const std::string& name) {
  auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.name == name; });
  return it == entries.end() ? nullptr : &*it;
}

class Drain : public ::testing::Test {
 protected:
  void SetUp() override { Broker(); }
  void TearDown() override { Broker().StopBroker(); }
};

// A request is answered only against a harvest of the broker's event loop taken after the request arrived
// (server.cpp, DrainReleases). Here one arrives while the broker pauses between taking a harvest and serving
// it (a test-only delay), on a connection the harvest had for an earlier message, after the connection of a
// process holding the name closed: the name is free for it, as it would be for any request sent after the
// holder was gone.
TEST_F(Drain, ARequestThatArrivesAfterTheHarvestIsNotAnsweredFromIt) {
  Broker().StopBroker();
  setenv("NTBRIDGE_TEST_HARVEST_DELAY_MS", "300", 1);
  RawConnection first;  // starts a broker that pauses 300 ms after each harvest
  unsetenv("NTBRIDGE_TEST_HARVEST_DELAY_MS");
  auto holder = std::make_unique<RawConnection>();
  ASSERT_NE(holder->Publish("Local\\late"), 0u);
  RawConnection late;
  {
    FrozenBroker frozen;
    ASSERT_TRUE(frozen.ok());
    late.ReleaseOneWay(12345);       // a release of nothing: puts `late` in the next harvest
    first.SendOpen("Local\\other");  // its drain reads `late` ahead
  }
  // The broker has taken its harvest ({late, first}) and pauses before serving it.
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  holder.reset();  // the holder's connection closes after the harvest
  late.SendPublish("Local\\late");
  EXPECT_EQ(first.ReceiveOpen().status, Status::kNotFound);
  EXPECT_EQ(late.ReceivePublish().status, Status::kOk)
      << "the publish was answered from a harvest taken before it arrived, which missed the holder's close";
}

// The broker serves the connections of one turn in the order they came; `first` came before the releasing
// connection, so only the drain takes the release before its open is answered.
TEST_F(Drain, AReleaseQueuedOnAnotherConnectionIsTakenBeforeAnOpenIsAnswered) {
  RawConnection first;
  RawConnection owner;
  RawConnection last;
  for (int i = 0; i < 20; ++i) {
    std::string name = "Local\\drain-" + std::to_string(i);
    uint32_t kmt = 0;
    uint64_t payload = owner.Publish(name, &kmt);
    ASSERT_NE(payload, 0u);
    {
      FrozenBroker frozen;
      ASSERT_TRUE(frozen.ok());
      owner.ReleaseOneWay(payload);
      first.SendOpen(name);
      last.SendOpen(kmt);
    }
    EXPECT_EQ(first.ReceiveOpen().status, Status::kNotFound) << "by name, iteration " << i;
    EXPECT_EQ(last.ReceiveOpen().status, Status::kNotFound) << "by KMT value, iteration " << i;
  }
  EXPECT_TRUE(first.Status().empty());
}

// However many releases a connection has queued (its send buffer decides how many fit), the last one is
// taken before an open that came after it is answered: the drain reads what was queued, not a fixed count.
TEST_F(Drain, AReleaseBehindThousandsOfOthersIsStillTaken) {
  RawConnection first;
  RawConnection owner;
  int big = 4 << 20;
  setsockopt(owner.fd(), SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  const std::string name = "Local\\drain-deep";
  uint64_t payload = owner.Publish(name);
  ASSERT_NE(payload, 0u);
  constexpr int kAhead = 6000;
  int ahead = 0;
  {
    FrozenBroker frozen;
    ASSERT_TRUE(frozen.ok());
    // Releases of a payload nobody holds: refused (and logged), but each is a message to get through.
    while (ahead < kAhead && owner.TryReleaseOneWay(payload + 1)) ++ahead;
    if (ahead < 4200 || !owner.TryReleaseOneWay(payload)) {
      GTEST_SKIP() << "this machine's socket buffers (net.core.wmem_max) hold only " << ahead
                   << " small messages, so no connection can queue the thousands this test needs";
    }
    first.SendOpen(name);
  }
  EXPECT_EQ(first.ReceiveOpen().status, Status::kNotFound)
      << "an open answered with " << ahead << " releases and then the last holder's queued before it";
  // Thousands of refused releases leave a few lines in the log, not thousands.
  char refused[24];
  std::snprintf(refused, sizeof refused, "%016llx", static_cast<unsigned long long>(payload + 1));
  const std::string log = Broker().Log();
  size_t lines = 0;
  for (size_t at = log.find(refused); at != std::string::npos; at = log.find(refused, at + 1)) ++lines;
  EXPECT_LE(lines, 8u) << "each refused release was logged";
  EXPECT_NE(log.find("further refused releases of this connection are only counted"), std::string::npos);
}

// A broker that takes nothing for the send timeout (stopped here) cannot take a release; the client keeps it,
// waits no more for later ones, and sends them all before its next request, so the name does not stay held
// until the process exits.
TEST_F(Drain, ReleasesAStalledBrokerDidNotTakeAreSentBeforeTheNextRequest) {
  RawConnection watcher;
  BrokerClient client;
  client.SetOptions({Broker().socket, NTBRIDGE_BROKER_PROGRAM, false});
  std::string error;
  int memfd = memfd_create("stalled", MFD_CLOEXEC);
  protocol::PublishReply published;
  ASSERT_TRUE(client.Publish(protocol::PublishRequest{protocol::kPublishName, {}, "Local\\stalled"}, memfd,
                             &published, &error))
      << error;
  close(memfd);
  ASSERT_EQ(published.status, Status::kOk);
  {
    FrozenBroker frozen;
    ASSERT_TRUE(frozen.ok());
    // Releases of a payload nobody holds fill the connection's send buffer; the one that finds it full
    // waits for the send timeout and is kept.
    bool kept = false;
    for (int i = 0; i < 100000 && !kept; ++i) kept = !client.ReleaseOneWay(published.payload + 1, &error);
    ASSERT_TRUE(kept) << "the send buffer never filled";
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(client.ReleaseOneWay(published.payload, &error)) << "the buffer is still full";
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
        << "a release behind a kept one waited for the send timeout again";
  }
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  ASSERT_TRUE(client.Status(&entries, &status, &error)) << error;
  EXPECT_EQ(Find(entries, "Local\\stalled"), nullptr) << "the kept release was not sent before the request";
  EXPECT_EQ(watcher.Open("Local\\stalled").status, Status::kNotFound);
}

TEST_F(Drain, AReleaseThenARequestOnTheSameConnectionKeepTheirOrder) {
  RawConnection watcher;
  RawConnection owner;
  uint64_t payload = owner.Publish("Local\\again");
  ASSERT_NE(payload, 0u);
  {
    FrozenBroker frozen;
    owner.ReleaseOneWay(payload);
    owner.SendPublish("Local\\again");  // queued behind the release
    // Served first: its drain takes the release and keeps the publish for its own turn.
    watcher.SendOpen("Local\\again");
  }
  protocol::PublishReply again = owner.ReceivePublish();
  EXPECT_EQ(again.status, Status::kOk) << "the publish was taken before the release in front of it";
  EXPECT_NE(again.payload, payload);
  // The publish was not answered when the open came: either answer is right, but not the old payload.
  protocol::OpenReply seen = watcher.ReceiveOpen();
  EXPECT_NE(seen.payload, payload);
  if (seen.status == Status::kOk) {
    EXPECT_EQ(seen.payload, again.payload);
  }

  // Behind its own release, an open or a status request of the same connection no longer finds it.
  {
    FrozenBroker frozen;
    owner.ReleaseOneWay(again.payload);
    owner.SendOpen("Local\\again");
  }
  EXPECT_EQ(owner.ReceiveOpen().status, Status::kNotFound);
  uint64_t listed = owner.Publish("Local\\listed");
  {
    FrozenBroker frozen;
    owner.ReleaseOneWay(listed);
    owner.SendStatus();
  }
  EXPECT_TRUE(owner.ReceiveStatus().empty());
}

TEST_F(Drain, ReleasesInterleavedFromSeveralConnections) {
  RawConnection first;
  std::vector<std::unique_ptr<RawConnection>> c;
  for (int i = 0; i < 4; ++i) c.push_back(std::make_unique<RawConnection>());
  RawConnection last;
  // x: held by all four; y: by c0, c1, c2; w: by c0 and c3; z: by c3.
  uint64_t x = c[0]->Publish("Local\\x");
  for (int i = 1; i < 4; ++i) ASSERT_EQ(c[i]->Open("Local\\x").status, Status::kOk);
  uint64_t y = c[1]->Publish("Local\\y");
  ASSERT_EQ(c[0]->Open("Local\\y").status, Status::kOk);
  ASSERT_EQ(c[2]->Open("Local\\y").status, Status::kOk);
  uint64_t w = c[0]->Publish("Local\\w");
  ASSERT_EQ(c[3]->Open("Local\\w").status, Status::kOk);
  ASSERT_NE(c[3]->Publish("Local\\z"), 0u);
  {
    FrozenBroker frozen;
    c[0]->ReleaseOneWay(x);
    c[1]->ReleaseOneWay(y);
    c[2]->ReleaseOneWay(x);
    c[0]->ReleaseOneWay(y);
    c[3]->ReleaseOneWay(x);
    c[1]->ReleaseOneWay(x);
    c[0]->ReleaseOneWay(w);
    c[2]->ReleaseOneWay(y);
    c[2]->SendOpen("Local\\z");  // behind its own releases
    first.SendOpen("Local\\x");
    last.SendOpen("Local\\y");
  }
  EXPECT_EQ(first.ReceiveOpen().status, Status::kNotFound) << "a release of x was left behind";
  EXPECT_EQ(last.ReceiveOpen().status, Status::kNotFound) << "a release of y was left behind";
  EXPECT_EQ(c[2]->ReceiveOpen().status, Status::kOk) << "z was released by someone else's releases";
  auto entries = first.Status();
  EXPECT_EQ(entries.size(), 2u);
  const protocol::StatusEntry* z = Find(entries, "Local\\z");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->holders.size(), 2u);
  const protocol::StatusEntry* w_entry = Find(entries, "Local\\w");
  ASSERT_NE(w_entry, nullptr) << "one release of w took both holds";
  EXPECT_EQ(w_entry->holders.size(), 1u);
  EXPECT_NE(last.Publish("Local\\x"), 0u) << "the name x is not free again";
}

TEST_F(Drain, AConnectionThatClosesBehindItsReleaseLosesEverything) {
  RawConnection watcher;
  auto owner = std::make_unique<RawConnection>();
  uint32_t kmt = 0;
  uint64_t released = owner->Publish("Local\\released", &kmt);
  ASSERT_NE(owner->Publish("Local\\held"), 0u);
  {
    FrozenBroker frozen;
    owner->ReleaseOneWay(released);
    owner.reset();  // as its process ends
    watcher.SendOpen("Local\\held");
  }
  EXPECT_EQ(watcher.ReceiveOpen().status, Status::kNotFound);
  EXPECT_TRUE(watcher.Status().empty());
}

TEST_F(Drain, AOneWayReleaseIsNeverAnswered) {
  RawConnection c;
  uint64_t payload = c.Publish("Local\\quiet");
  c.ReleaseOneWay(payload);
  c.ReleaseOneWay(payload);                // no longer held: refused, in the log only
  c.ReleaseOneWay(0x1234567800000001ull);  // never was
  // The next message must be the status answer, not a reply to a release.
  EXPECT_TRUE(c.Status().empty());
  EXPECT_EQ(c.Open("Local\\quiet").status, Status::kNotFound);
  std::string log = Broker().Log();
  EXPECT_NE(log.find("one-way release of payload 1234567800000001 refused: not held"), std::string::npos)
      << log;
}

// A client that predates one-way releases still gets its answer.
TEST_F(Drain, ASynchronousReleaseIsStillAnswered) {
  RawConnection c;
  uint64_t payload = c.Publish("Local\\sync");
  c.Send(Type::kRelease, protocol::PayloadRequest{payload});
  EXPECT_EQ(c.Receive<protocol::StatusCodeReply>(Type::kRelease).status, Status::kOk);
  c.Send(Type::kRelease, protocol::PayloadRequest{payload});
  EXPECT_EQ(c.Receive<protocol::StatusCodeReply>(Type::kRelease).status, Status::kNotHeld);
}

TEST_F(Drain, HelloTellsTheBrokersRevision) {
  RawConnection c;
  c.Send(Type::kHello, protocol::HelloRequest{1});
  EXPECT_EQ(c.Receive<protocol::HelloReply>(Type::kHello).revision, protocol::kRevision);
  BrokerClient client;
  client.SetOptions({Broker().socket, NTBRIDGE_BROKER_PROGRAM, true});
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  std::string error;
  ASSERT_TRUE(client.Status(&entries, &status, &error)) << error;
  EXPECT_EQ(client.BrokerRevision(), protocol::kRevision);
}

// A broker of revision 1: it closes a connection on a message type it does not know (kHello), and answers
// every kRelease.
bool AnswerAsRevision1(int c, const protocol::Message& message, std::vector<int>&) {
  if (message.header.type == uint16_t(Type::kRelease)) {
    return SendPacket(c, protocol::EncodeMessage(Type::kRelease, true, protocol::StatusCodeReply{}));
  }
  if (message.header.type == uint16_t(Type::kShareKmt)) {
    return SendPacket(
        c, protocol::EncodeMessage(Type::kShareKmt, true, protocol::ShareKmtReply{Status::kOk, 7}));
  }
  return false;  // kHello: unknown to revision 1
}

TEST(BrokerClientRevisions, ABrokerThatKnowsNoHelloGetsReleasesThatWaitForTheirReply) {
  FakeBroker old(AnswerAsRevision1);
  {
    BrokerClient client;
    client.SetOptions({old.path, "", false});
    std::string error;
    EXPECT_TRUE(client.ReleaseOneWay(5, &error)) << "without a connection nothing is held: " << error;
    protocol::ShareKmtReply kmt;
    ASSERT_TRUE(client.ShareKmt(5, &kmt, &error)) << error;
    EXPECT_EQ(kmt.kmt, 7u);
    EXPECT_EQ(client.BrokerRevision(), 1u);
    EXPECT_TRUE(client.ReleaseOneWay(5, &error)) << error;
  }
  EXPECT_EQ(old.Types(), (std::vector<uint16_t>{uint16_t(Type::kHello), uint16_t(Type::kShareKmt),
                                                uint16_t(Type::kRelease)}))
      << "not one refused kHello, then a revision-1 conversation";
}

// A broker that goes away while a new connection waits in its backlog (one that exits when idle, or is
// killed) resets that connection during kHello: the request is retried, on a broker started anew.
TEST(BrokerClientRevisions, AConnectionLostDuringHelloIsRetriedOnANewBroker) {
  char pattern[] = "/tmp/ntbgone-XXXXXX";
  const std::string folder = mkdtemp(pattern);
  const std::string path = folder + "/broker.sock";
  int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  std::thread closer([&] {
    pollfd waiting{listener, POLLIN, 0};
    poll(&waiting, 1, 10000);  // a client waits in the backlog: go away without accepting it
    close(listener);
    unlink(path.c_str());
  });
  BrokerClient client;
  client.SetOptions({path, NTBRIDGE_BROKER_PROGRAM, true});
  std::string error;
  int memfd = memfd_create("retried", MFD_CLOEXEC);
  protocol::PublishReply reply;
  const bool published = client.Publish(
      protocol::PublishRequest{protocol::kPublishName, {}, "Local\\retried"}, memfd, &reply, &error);
  close(memfd);
  closer.join();
  EXPECT_TRUE(published) << error;
  EXPECT_EQ(reply.status, Status::kOk);
  EXPECT_EQ(client.BrokerRevision(), protocol::kRevision);
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  if (client.Status(&entries, &status, &error) && status.broker_pid > 0) kill(status.broker_pid, SIGTERM);
  std::error_code ec;
  std::filesystem::remove_all(folder, ec);
}

}  // namespace
}  // namespace ntbridge::test
