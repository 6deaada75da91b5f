// Object kinds at the broker (protocol revision 3): semaphores and fences beside memory, in one namespace of
// names and KMT values (DESIGN.md §7), and peers of earlier revisions on either side. Payloads are memfds:
// the broker never looks into them.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "broker_client.hpp"
#include "broker_fixture.hpp"
#include "wire.hpp"

namespace ntbridge::test {
namespace {

using protocol::ObjectKind;
using protocol::Status;
using protocol::Type;

constexpr ObjectKind kKinds[] = {ObjectKind::kMemory, ObjectKind::kSemaphore, ObjectKind::kFence};

class Kinds : public ::testing::Test {
 protected:
  void SetUp() override { Broker(); }
  void TearDown() override { Broker().StopBroker(); }
};

// A client of the test's broker, as the layer of a process has one.
class Client : public BrokerClient {
 public:
  Client() { SetOptions({Broker().socket, NTBRIDGE_BROKER_PROGRAM, true}); }
};

int Memfd() { return memfd_create("kinds", MFD_CLOEXEC); }

// A publish under `name` (and of a KMT value) of an object of `kind`, sized as such objects are.
protocol::PublishRequest Request(ObjectKind kind, const std::string& name, uint32_t object_flags = 0) {
  protocol::PublishRequest r{protocol::kPublishName | protocol::kPublishKmt, {}, name};
  r.info.allocation_size = kind == ObjectKind::kMemory ? 4096 : 0;
  r.info.access = 0x10000000;
  r.info.object_kind = kind;
  r.info.object_flags = object_flags;
  return r;
}

protocol::PublishReply Publish(BrokerClient& client, const protocol::PublishRequest& request) {
  int fd = Memfd();
  protocol::PublishReply reply;
  std::string error;
  EXPECT_TRUE(client.Publish(request, fd, &reply, &error)) << error;
  close(fd);
  return reply;
}

bool SameFile(int a, int b) {
  struct stat sa {
  }, sb{};
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

const protocol::StatusEntry* Find(const std::vector<protocol::StatusEntry>& entries,
                                  const std::string& name) {
  auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.name == name; });
  return it == entries.end() ? nullptr : &*it;
}

TEST_F(Kinds, SemaphoresAndFencesArePublishedAndOpenedByNameAndKmt) {
  Client exporter;
  Client importer;
  for (ObjectKind kind : {ObjectKind::kSemaphore, ObjectKind::kFence}) {
    const std::string name = std::string("Local\\kinds-") + protocol::ObjectKindName(kind);
    const protocol::PublishRequest request = Request(kind, name, 0x2);
    int payload = Memfd();
    protocol::PublishReply published;
    std::string error;
    ASSERT_TRUE(exporter.Publish(request, payload, &published, &error)) << error;
    ASSERT_EQ(published.status, Status::kOk) << name << " (an allocation size of 0 is fine)";
    ASSERT_NE(published.kmt, 0u);
    for (bool by_kmt : {false, true}) {
      protocol::OpenRequest open{by_kmt ? published.kmt : 0, by_kmt ? "" : name, kind};
      protocol::OpenReply reply;
      int fd = -1;
      ASSERT_TRUE(importer.Open(open, &reply, &fd, &error)) << error;
      ASSERT_EQ(reply.status, Status::kOk) << name << (by_kmt ? " by KMT value" : " by name");
      EXPECT_EQ(reply.payload, published.payload);
      EXPECT_EQ(reply.kmt, published.kmt);
      EXPECT_EQ(reply.info, request.info) << "kind and flags come back as published";
      EXPECT_TRUE(SameFile(fd, payload));
      close(fd);
    }
    close(payload);
  }
  EXPECT_EQ(importer.BrokerRevision(), protocol::kRevision);
}

TEST_F(Kinds, AMemoryNameOpenedAsASemaphoreIsTheWrongKindAndTakesNoHold) {
  Client exporter;
  Client importer;
  const protocol::PublishReply memory =
      Publish(exporter, Request(ObjectKind::kMemory, "Local\\kinds-memory"));
  ASSERT_EQ(memory.status, Status::kOk);
  std::string error;
  protocol::OpenReply reply;
  int fd = -1;
  ASSERT_TRUE(importer.Open({0, "Local\\kinds-memory", ObjectKind::kSemaphore}, &reply, &fd, &error))
      << error;
  EXPECT_EQ(reply.status, Status::kWrongKind);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(reply.info.object_kind, ObjectKind::kMemory) << "the reply says what the name belongs to";
  EXPECT_EQ(reply.info.allocation_size, 4096u);
  ASSERT_TRUE(importer.Open({memory.kmt, "", ObjectKind::kFence}, &reply, &fd, &error)) << error;
  EXPECT_EQ(reply.status, Status::kWrongKind) << "by KMT value";
  EXPECT_EQ(fd, -1);

  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  ASSERT_TRUE(Broker().Status(&entries, &status));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].holders.size(), 1u) << "only the exporter holds it";
  protocol::StatusCodeReply released;
  ASSERT_TRUE(importer.Release(memory.payload, &released, &error)) << error;
  EXPECT_EQ(released.status, Status::kNotHeld);
  ASSERT_TRUE(exporter.Release(memory.payload, &released, &error)) << error;
  ASSERT_TRUE(Broker().Status(&entries, &status));
  EXPECT_TRUE(entries.empty()) << "the payload lived on after its only holder released it";
}

TEST_F(Kinds, NamesAreOneNamespaceForEveryKind) {
  Client first;
  Client second;
  for (ObjectKind a : kKinds) {
    for (ObjectKind b : kKinds) {
      const std::string what =
          std::string(protocol::ObjectKindName(a)) + " then " + protocol::ObjectKindName(b);
      const protocol::PublishReply held = Publish(first, Request(a, "Local\\kinds-shared"));
      ASSERT_EQ(held.status, Status::kOk) << what;
      EXPECT_EQ(Publish(second, Request(b, "Local\\kinds-shared")).status, Status::kNameInUse) << what;
      protocol::StatusCodeReply released;
      std::string error;
      ASSERT_TRUE(first.Release(held.payload, &released, &error)) << error;
    }
  }
}

TEST_F(Kinds, StatusEntriesCarryTheKind) {
  Client client;
  for (ObjectKind kind : kKinds) {
    std::string name = std::string("Local\\kinds-status-") + protocol::ObjectKindName(kind);
    ASSERT_EQ(Publish(client, Request(kind, name, 0x40 + static_cast<uint32_t>(kind))).status, Status::kOk);
  }
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  ASSERT_TRUE(Broker().Status(&entries, &status));
  for (ObjectKind kind : kKinds) {
    const std::string name = std::string("Local\\kinds-status-") + protocol::ObjectKindName(kind);
    const protocol::StatusEntry* e = Find(entries, name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->info.object_kind, kind) << name;
    EXPECT_EQ(e->info.object_flags, 0x40 + static_cast<uint32_t>(kind)) << name;
  }
}

// A process of an earlier ntbridge talks to this broker as before: it sends the old layout and gets it back,
// and to it a semaphore's or fence's name or value is none of its memory.
TEST_F(Kinds, ClientsOfRevisions1And2GetTheOldLayout) {
  Client current;
  const protocol::PublishReply semaphore =
      Publish(current, Request(ObjectKind::kSemaphore, "Local\\kinds-semaphore"));
  ASSERT_EQ(semaphore.status, Status::kOk);
  for (uint32_t revision : {1u, 2u}) {
    SCOPED_TRACE("revision " + std::to_string(revision));
    RawConnection old(revision);
    const std::string name = "Local\\kinds-old-" + std::to_string(revision);
    uint32_t kmt = 0;
    ASSERT_NE(old.Publish(name, &kmt), 0u);

    protocol::OpenReply reply = old.Open(name);
    EXPECT_EQ(reply.status, Status::kOk);
    EXPECT_EQ(old.last_body().size(), 4u + 8u + 4u + 48u) << "an open reply of the old layout";
    protocol::OpenReply from_current;
    int fd = -1;
    std::string error;
    ASSERT_TRUE(current.Open({kmt, "", ObjectKind::kMemory}, &from_current, &fd, &error)) << error;
    EXPECT_EQ(from_current.status, Status::kOk) << "what an old client publishes is memory";
    if (fd >= 0) close(fd);

    reply = old.Open("Local\\kinds-semaphore");
    EXPECT_EQ(reply.status, Status::kNotFound) << "no kWrongKind for a client that does not know it";
    EXPECT_EQ(reply.info, protocol::PayloadInfo{});
    old.SendOpen(semaphore.kmt);
    EXPECT_EQ(old.ReceiveOpen().status, Status::kNotFound);

    // Status entries come in the old layout (RawConnection decodes them in its revision's), every payload
    // listed.
    std::vector<protocol::StatusEntry> entries = old.Status();
    EXPECT_NE(Find(entries, "Local\\kinds-semaphore"), nullptr);
    EXPECT_NE(Find(entries, name), nullptr);
  }
}

// A KMT-only publish of a file the broker holds as a semaphore, as memory (an application that imported a
// semaphore's NT handle as memory): the wrong kind, and for a client that knows no kinds, a bad request.
TEST_F(Kinds, ASemaphoresFileIsNotSharedAsMemory) {
  int payload = Memfd();
  Client current;
  protocol::PublishRequest request{protocol::kPublishKmt, {}, ""};
  request.info.object_kind = ObjectKind::kSemaphore;
  protocol::PublishReply published;
  std::string error;
  ASSERT_TRUE(current.Publish(request, payload, &published, &error)) << error;
  ASSERT_EQ(published.status, Status::kOk);
  for (uint32_t revision : {2u, protocol::kRevision}) {
    RawConnection c(revision);
    c.Send(Type::kPublish, protocol::PublishRequest{protocol::kPublishKmt, {}, ""}, payload);
    EXPECT_EQ(c.ReceivePublish().status,
              revision >= protocol::kRevisionObjectKinds ? Status::kWrongKind : Status::kBadRequest)
        << "revision " << revision;
  }
  close(payload);
}

// The broker reads each connection in the layout of the revision it said: the other layout is malformed.
TEST_F(Kinds, ABodyInAnotherRevisionsLayoutClosesTheConnection) {
  for (uint32_t revision : {2u, 3u}) {
    RawConnection c(revision);
    const uint32_t other = revision == 2 ? 3 : 2;
    int payload = Memfd();
    EXPECT_TRUE(SendPacket(
        c.fd(),
        protocol::EncodeMessage(Type::kPublish, false,
                                protocol::PublishRequest{protocol::kPublishName, {}, "Local\\x"}, other),
        payload));
    close(payload);
    EXPECT_TRUE(c.ClosedByBroker()) << "revision " << revision << " sent the layout of " << other;
  }
  EXPECT_NE(Broker().Log().find("malformed request"), std::string::npos) << Broker().Log();
}

// A broker of revision 2 (one that runs from before an update): memory goes on in its layout; semaphores
// and fences are refused before anything is sent, saying why.
bool AnswerAsRevision2(int c, const protocol::Message& message, std::vector<int>& fds) {
  std::string why;
  constexpr uint32_t kOld = 2;
  switch (static_cast<Type>(message.header.type)) {
    case Type::kHello:
      return SendPacket(c, protocol::EncodeMessage(Type::kHello, true, protocol::HelloReply{kOld}));
    case Type::kPublish: {
      protocol::PublishRequest r;
      if (!protocol::DecodeBody(message.body, &r, &why, kOld) || fds.size() != 1) return false;
      return SendPacket(
          c, protocol::EncodeMessage(Type::kPublish, true, protocol::PublishReply{Status::kOk, 1, 7}));
    }
    case Type::kOpen: {
      protocol::OpenRequest r;
      if (!protocol::DecodeBody(message.body, &r, &why, kOld)) return false;
      protocol::OpenReply reply{Status::kOk, 1, 7, {4096, 0, 0, {}, {}}};
      int payload = Memfd();
      bool sent = SendPacket(c, protocol::EncodeMessage(Type::kOpen, true, reply, kOld), payload);
      close(payload);
      return sent;
    }
    case Type::kStatus: {
      protocol::StatusEntry e{1, 7, {4096, 0, 0, {}, {}}, "Local\\old", {1}};
      return SendPacket(c, protocol::EncodeMessage(Type::kStatusEntry, true, e, kOld)) &&
             SendPacket(c, protocol::EncodeMessage(Type::kStatus, true, protocol::StatusReply{1, 1, 1, 1}));
    }
    default:
      return false;
  }
}

TEST(BrokerClientRevisions, ABrokerOfRevision2SharesMemoryButNoSemaphoresOrFences) {
  FakeBroker old(AnswerAsRevision2);
  BrokerClient client;
  client.SetOptions({old.path, "", false});
  protocol::PublishReply published = Publish(client, Request(ObjectKind::kMemory, "Local\\m"));
  EXPECT_EQ(published.status, Status::kOk);
  EXPECT_EQ(client.BrokerRevision(), 2u);

  for (ObjectKind kind : {ObjectKind::kSemaphore, ObjectKind::kFence}) {
    int payload = Memfd();
    std::string error;
    EXPECT_FALSE(client.Publish(Request(kind, "Local\\s"), payload, &published, &error));
    close(payload);
    EXPECT_NE(error.find("too old (protocol revision 2) for semaphores and fences"), std::string::npos)
        << error;
    EXPECT_NE(error.find("replaced"), std::string::npos) << error;
    EXPECT_NE(error.find("once it exits (when idle) or is stopped"), std::string::npos) << error;
    protocol::OpenReply reply;
    int fd = -1;
    error.clear();
    EXPECT_FALSE(client.Open({7, "", kind}, &reply, &fd, &error));
    EXPECT_EQ(fd, -1);
    EXPECT_NE(error.find("too old (protocol revision 2)"), std::string::npos) << error;
  }

  protocol::OpenReply reply;
  int fd = -1;
  std::string error;
  ASSERT_TRUE(client.Open({0, "Local\\m", ObjectKind::kMemory}, &reply, &fd, &error)) << error;
  EXPECT_EQ(reply.status, Status::kOk);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(reply.info.allocation_size, 4096u);
  EXPECT_EQ(reply.info.object_kind, ObjectKind::kMemory);
  if (fd >= 0) close(fd);
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  ASSERT_TRUE(client.Status(&entries, &status, &error)) << error;
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].info.object_kind, ObjectKind::kMemory);
  EXPECT_EQ(client.BrokerRevision(), 2u) << "the refusals kept the connection";
  EXPECT_EQ(old.Types(), (std::vector<uint16_t>{uint16_t(Type::kHello), uint16_t(Type::kPublish),
                                                uint16_t(Type::kOpen), uint16_t(Type::kStatus)}))
      << "a semaphore or fence request reached the old broker";
}

}  // namespace
}  // namespace ntbridge::test
