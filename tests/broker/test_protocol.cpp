// The broker protocol decoder, names, KMT values and the registry: pure functions, no broker, no driver.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "kmt_values.hpp"
#include "protocol.hpp"
#include "registry.hpp"
#include "share_name.hpp"

namespace ntbridge {
namespace {

using namespace protocol;

std::vector<uint8_t> ValidOpen() { return EncodeMessage(Type::kOpen, false, OpenRequest{7, ""}); }

TEST(ProtocolDecoder, AcceptsAWellFormedMessage) {
  auto bytes = ValidOpen();
  std::string error;
  auto m = DecodeMessage(bytes, &error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->header.type, static_cast<uint16_t>(Type::kOpen));
  OpenRequest r;
  ASSERT_TRUE(DecodeBody(m->body, &r, &error)) << error;
  EXPECT_EQ(r.kmt, 7u);
}

TEST(ProtocolDecoder, RefusesEveryTruncation) {
  auto bytes = EncodeMessage(Type::kPublish, false, PublishRequest{kPublishName, {}, "Local\\x"});
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string error;
    EXPECT_FALSE(DecodeMessage(std::span(bytes.data(), n), &error))
        << "accepted " << n << " of " << bytes.size();
    EXPECT_FALSE(error.empty());
  }
}

TEST(ProtocolDecoder, RefusesTruncatedBodyEvenWithAMatchingHeader) {
  PublishRequest r{kPublishName, {}, "Local\\x"};
  auto body = EncodeBody(r);
  for (size_t n = 0; n < body.size(); ++n) {
    PublishRequest out;
    std::string error;
    EXPECT_FALSE(DecodeBody(std::span(body.data(), n), &out, &error)) << n;
  }
}

TEST(ProtocolDecoder, RefusesOversizedMessages) {
  std::vector<uint8_t> body(kMaxBody + 1, 0);
  auto bytes = Encode(Type::kOpen, false, body);
  std::string error;
  EXPECT_FALSE(DecodeMessage(bytes, &error));
  EXPECT_NE(error.find("over the limit"), std::string::npos) << error;
}

TEST(ProtocolDecoder, RefusesALengthThatDisagreesWithTheMessage) {
  auto bytes = ValidOpen();
  bytes.push_back(0);
  std::string error;
  EXPECT_FALSE(DecodeMessage(bytes, &error));
  EXPECT_NE(error.find("header says"), std::string::npos) << error;
}

TEST(ProtocolDecoder, RefusesAnotherVersion) {
  auto bytes = ValidOpen();
  bytes[4] = kVersion + 1;
  std::string error;
  EXPECT_FALSE(DecodeMessage(bytes, &error));
  EXPECT_NE(error.find("version"), std::string::npos) << error;
}

TEST(ProtocolDecoder, RefusesBadMagicAndUnknownTypes) {
  auto bytes = ValidOpen();
  bytes[0] ^= 0xFF;
  std::string error;
  EXPECT_FALSE(DecodeMessage(bytes, &error));
  bytes = ValidOpen();
  bytes[6] = 99;
  EXPECT_FALSE(DecodeMessage(bytes, &error));
  EXPECT_NE(error.find("unknown message type"), std::string::npos) << error;
  // A status entry is only ever a reply.
  bytes = Encode(Type::kStatusEntry, false, {});
  EXPECT_FALSE(DecodeMessage(bytes, &error));
}

TEST(ProtocolDecoder, SurvivesGarbage) {
  uint32_t seed = 12345;
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> bytes((seed >> 8) % 80);
    for (auto& b : bytes) {
      seed = seed * 1103515245 + 12345;
      b = static_cast<uint8_t>(seed >> 16);
    }
    if (i % 2 == 0 && bytes.size() >= kHeaderSize) {  // a valid header over a garbage body
      auto header = Encode(static_cast<Type>(1 + i % 5), false,
                           std::span(bytes.data() + kHeaderSize, bytes.size() - kHeaderSize));
      bytes = header;
    }
    std::string error;
    auto m = DecodeMessage(bytes, &error);
    if (!m) continue;
    ++accepted;
    ASSERT_EQ(m->header.length + kHeaderSize, bytes.size());
    ASSERT_EQ(m->body.size(), m->header.length);
    PublishRequest p;
    OpenRequest o;
    PayloadRequest q;
    StatusEntry e;
    DecodeBody(m->body, &p, &error);
    DecodeBody(m->body, &o, &error);
    DecodeBody(m->body, &q, &error);
    DecodeBody(m->body, &e, &error);
  }
  // Only the messages given a valid header got through (the sanitizer build checks the reads).
  EXPECT_GT(accepted, 0);
  EXPECT_LE(accepted, 10000);
}

TEST(ProtocolDecoder, RefusesTrailingBytesAndInconsistentRequests) {
  auto body = EncodeBody(PayloadRequest{1});
  body.push_back(0);
  PayloadRequest r;
  std::string error;
  EXPECT_FALSE(DecodeBody(body, &r, &error));
  EXPECT_NE(error.find("unexpected bytes"), std::string::npos);
  OpenRequest both{5, "name"};
  OpenRequest out;
  EXPECT_FALSE(DecodeBody(EncodeBody(both), &out, &error));
  OpenRequest neither{0, ""};
  EXPECT_FALSE(DecodeBody(EncodeBody(neither), &out, &error));
  PublishRequest flags{0, {}, ""};
  PublishRequest pout;
  EXPECT_FALSE(DecodeBody(EncodeBody(flags), &pout, &error));
  PublishRequest name_without_flag{kPublishKmt, {}, "x"};
  EXPECT_FALSE(DecodeBody(EncodeBody(name_without_flag), &pout, &error));
  std::string with_nul("a\0b", 3);
  EXPECT_FALSE(DecodeBody(EncodeBody(OpenRequest{0, with_nul}), &out, &error));
}

TEST(ProtocolDecoder, RoundTripsEveryBody) {
  PublishRequest p{kPublishName | kPublishKmt, {4096, 2, 0x10000000, {1, 2, 3}, {9, 8, 7}}, "Global\\n"};
  PublishRequest p2;
  std::string error;
  ASSERT_TRUE(DecodeBody(EncodeBody(p), &p2, &error)) << error;
  EXPECT_EQ(p2.name, p.name);
  EXPECT_EQ(p2.info, p.info);
  StatusEntry e{42, 7, p.info, "n", {1, 2, 3}};
  StatusEntry e2;
  ASSERT_TRUE(DecodeBody(EncodeBody(e), &e2, &error)) << error;
  EXPECT_EQ(e2.holders, e.holders);
  OpenReply o{Status::kOk, 9, 3, p.info};
  OpenReply o2;
  ASSERT_TRUE(DecodeBody(EncodeBody(o), &o2, &error)) << error;
  EXPECT_EQ(o2.payload, 9u);
  StatusCodeReply bad;
  auto status_body = EncodeBody(StatusCodeReply{Status::kOk});
  status_body[0] = 200;
  EXPECT_FALSE(DecodeBody(status_body, &bad, &error));
}

TEST(ProtocolDecoder, HelloAndOneWayReleaseOfRevision2) {
  std::string error;
  HelloRequest hello;
  ASSERT_TRUE(DecodeBody(EncodeBody(HelloRequest{7}), &hello, &error)) << error;
  EXPECT_EQ(hello.revision, 7u);
  EXPECT_FALSE(DecodeBody(EncodeBody(HelloRequest{0}), &hello, &error)) << "revision 0 does not exist";
  HelloReply reply;
  ASSERT_TRUE(DecodeBody(EncodeBody(HelloReply{}), &reply, &error)) << error;
  EXPECT_EQ(reply.revision, kRevision);
  EXPECT_GE(kRevision, 2u);
  // kHello has a reply; a one-way release never does.
  EXPECT_TRUE(DecodeMessage(EncodeMessage(Type::kHello, true, HelloReply{}), &error)) << error;
  EXPECT_TRUE(DecodeMessage(EncodeMessage(Type::kReleaseOneWay, false, PayloadRequest{1}), &error)) << error;
  EXPECT_FALSE(DecodeMessage(EncodeMessage(Type::kReleaseOneWay, true, StatusCodeReply{}), &error));
  EXPECT_NE(error.find("unknown message type"), std::string::npos) << error;
  // The framing did not change: what a broker of revision 1 reads still decodes.
  EXPECT_EQ(kVersion, 1u);
}

// Revision 4: a release socket is offered with kReleaseSocket (no body, the socket attached) and answered.
TEST(ProtocolDecoder, ReleaseSocketOfRevision4) {
  std::string error;
  EXPECT_GE(kRevision, kRevisionReleaseSocket);
  EXPECT_GT(kRevisionReleaseSocket, kRevisionObjectKinds);
  const auto offer_bytes = Encode(Type::kReleaseSocket, false, {});
  auto offer = DecodeMessage(offer_bytes, &error);
  ASSERT_TRUE(offer) << error;
  EXPECT_TRUE(offer->body.empty());
  const auto answer_bytes = EncodeMessage(Type::kReleaseSocket, true, StatusCodeReply{Status::kBadRequest});
  auto answer = DecodeMessage(answer_bytes, &error);
  ASSERT_TRUE(answer) << error;
  StatusCodeReply reply;
  ASSERT_TRUE(DecodeBody(answer->body, &reply, &error)) << error;
  EXPECT_EQ(reply.status, Status::kBadRequest);
}

// Revision 3: the payload info ends with the object's kind and flags, and an open says the kind it expects.
PayloadInfo SemaphoreInfo() {
  PayloadInfo info{0, 0, 0x10000000, {1, 2, 3}, {9, 8, 7}};
  info.object_kind = ObjectKind::kSemaphore;
  info.object_flags = 0x5;
  return info;
}

TEST(ProtocolObjectKinds, NamesOfKindsAndTheWrongKindStatus) {
  EXPECT_STREQ(ObjectKindName(ObjectKind::kMemory), "memory");
  EXPECT_STREQ(ObjectKindName(ObjectKind::kSemaphore), "semaphore");
  EXPECT_STREQ(ObjectKindName(ObjectKind::kFence), "fence");
  EXPECT_EQ(static_cast<uint32_t>(Status::kWrongKind), 6u);
  EXPECT_STREQ(StatusName(Status::kWrongKind), "wrong object kind");
  EXPECT_EQ(kRevisionObjectKinds, 3u);
  EXPECT_GE(kRevision, kRevisionObjectKinds);
  std::string error;
  OpenReply wrong;
  ASSERT_TRUE(DecodeBody(EncodeBody(OpenReply{Status::kWrongKind, 0, 0, SemaphoreInfo()}), &wrong, &error))
      << error;
  EXPECT_EQ(wrong.status, Status::kWrongKind);
  EXPECT_EQ(wrong.info, SemaphoreInfo());
}

TEST(ProtocolObjectKinds, EveryBodyWithAKindRoundTrips) {
  std::string error;
  PublishRequest p{kPublishName | kPublishKmt, SemaphoreInfo(), "Local\\sem"};
  PublishRequest p2;
  ASSERT_TRUE(DecodeBody(EncodeBody(p), &p2, &error)) << error;
  EXPECT_EQ(p2.info, p.info) << "a zero allocation size is fine for a semaphore";
  OpenRequest o{0, "Local\\sem", ObjectKind::kFence};
  OpenRequest o2;
  ASSERT_TRUE(DecodeBody(EncodeBody(o), &o2, &error)) << error;
  EXPECT_EQ(o2.object_kind, ObjectKind::kFence);
  EXPECT_EQ(o2.name, o.name);
  OpenReply r{Status::kOk, 9, 3, SemaphoreInfo()};
  OpenReply r2;
  ASSERT_TRUE(DecodeBody(EncodeBody(r), &r2, &error)) << error;
  EXPECT_EQ(r2.info, r.info);
  StatusEntry e{42, 7, SemaphoreInfo(), "n", {1, 2}};
  StatusEntry e2;
  ASSERT_TRUE(DecodeBody(EncodeBody(e), &e2, &error)) << error;
  EXPECT_EQ(e2.info.object_kind, ObjectKind::kSemaphore);
  EXPECT_EQ(e2.info.object_flags, 0x5u);
  EXPECT_EQ(e2.holders, e.holders);
}

// The layout of revisions 1 and 2, byte for byte: what older peers send and expect.
TEST(ProtocolObjectKinds, TheOldLayoutDecodesAsMemory) {
  std::string error;
  PayloadInfo memory{4096, 2, 0x10000000, {1}, {2}};
  PublishRequest p{kPublishName, memory, "Local\\m"};
  std::vector<uint8_t> old_publish = EncodeBody(p, 2);
  EXPECT_EQ(old_publish.size(), 4u + 48u + 2u + 7u);
  EXPECT_EQ(EncodeBody(p).size(), old_publish.size() + 8) << "revision 3 adds the kind and flags";
  PublishRequest decoded;
  decoded.info.object_kind = ObjectKind::kFence;
  ASSERT_TRUE(DecodeBody(old_publish, &decoded, &error, 2)) << error;
  EXPECT_EQ(decoded.info, memory);
  EXPECT_EQ(decoded.info.object_kind, ObjectKind::kMemory);

  std::vector<uint8_t> old_open = EncodeBody(OpenRequest{0, "Local\\m", ObjectKind::kMemory}, 1);
  EXPECT_EQ(old_open.size(), 4u + 2u + 7u);
  OpenRequest open;
  open.object_kind = ObjectKind::kSemaphore;
  ASSERT_TRUE(DecodeBody(old_open, &open, &error, 1)) << error;
  EXPECT_EQ(open.object_kind, ObjectKind::kMemory);
  EXPECT_EQ(open.name, "Local\\m");

  EXPECT_EQ(EncodeBody(OpenReply{Status::kOk, 1, 2, memory}, 2).size(), 4u + 8u + 4u + 48u);
  OpenReply reply;
  ASSERT_TRUE(DecodeBody(EncodeBody(OpenReply{Status::kOk, 1, 2, memory}, 2), &reply, &error, 2)) << error;
  EXPECT_EQ(reply.info, memory);
  StatusEntry entry;
  ASSERT_TRUE(DecodeBody(EncodeBody(StatusEntry{1, 2, memory, "n", {3}}, 2), &entry, &error, 2)) << error;
  EXPECT_EQ(entry.info, memory);
  EXPECT_EQ(entry.holders, std::vector<uint32_t>{3});
}

// Revision 5: a kOpen reply says what file the payload is, so that the importer needs no fstat of its own.
TEST(ProtocolPayloadFile, OpenRepliesOfRevision5CarryTheFileAndEarlierOnesDoNot) {
  std::string error;
  EXPECT_GE(kRevision, kRevisionPayloadFile);
  PayloadInfo memory{4096, 2, 0, {}, {}};
  OpenReply sent{Status::kOk, 1, 2, memory, {0x803, 123456789, 0, 0100600, 1 << 20}};
  OpenReply got;
  ASSERT_TRUE(DecodeBody(EncodeBody(sent, kRevisionPayloadFile), &got, &error, kRevisionPayloadFile))
      << error;
  EXPECT_EQ(got.file, sent.file);
  EXPECT_EQ(got.info, memory);
  const size_t revision4 = EncodeBody(sent, kRevisionReleaseSocket).size();
  EXPECT_EQ(revision4, 4u + 8u + 4u + 48u + 8u);  // as before revision 5
  EXPECT_EQ(EncodeBody(sent, kRevisionPayloadFile).size(), revision4 + 4 * 8u + 4u);
  got.file.mode = 7;  // a decode of the old layout says: unknown
  ASSERT_TRUE(DecodeBody(EncodeBody(sent, kRevisionReleaseSocket), &got, &error, kRevisionReleaseSocket))
      << error;
  EXPECT_EQ(got.file, PayloadFile{});
  EXPECT_FALSE(DecodeBody(EncodeBody(sent, kRevisionReleaseSocket), &got, &error, kRevisionPayloadFile));
  EXPECT_FALSE(DecodeBody(EncodeBody(sent, kRevisionPayloadFile), &got, &error, kRevisionReleaseSocket));
}

// A body of one layout is never taken for the other: each decoder wants its revision's exact length.
TEST(ProtocolObjectKinds, ALayoutIsNotReadAsTheOther) {
  std::string error;
  PayloadInfo memory{4096, 2, 0, {}, {}};
  PublishRequest p;
  EXPECT_FALSE(DecodeBody(EncodeBody(PublishRequest{kPublishName, memory, "Local\\m"}, 2), &p, &error, 3));
  EXPECT_FALSE(DecodeBody(EncodeBody(PublishRequest{kPublishName, memory, "Local\\m"}, 3), &p, &error, 2));
  OpenReply r;
  EXPECT_FALSE(DecodeBody(EncodeBody(OpenReply{Status::kOk, 1, 2, memory}, 2), &r, &error, 3));
  EXPECT_FALSE(DecodeBody(EncodeBody(OpenReply{Status::kOk, 1, 2, memory}, 3), &r, &error, 2));
  StatusEntry e;
  EXPECT_FALSE(DecodeBody(EncodeBody(StatusEntry{1, 2, memory, "", {}}, 2), &e, &error, 3));
  EXPECT_FALSE(DecodeBody(EncodeBody(StatusEntry{1, 2, memory, "", {}}, 3), &e, &error, 2));
  OpenRequest o;
  EXPECT_FALSE(DecodeBody(EncodeBody(OpenRequest{7, ""}, 2), &o, &error, 3));
  EXPECT_FALSE(DecodeBody(EncodeBody(OpenRequest{7, ""}, 3), &o, &error, 2));
}

// Every prefix of a revision-3 body is refused, and so is the body with bytes added.
template <typename M>
void ExpectExactLength(const M& m, const char* what) {
  std::vector<uint8_t> body = EncodeBody(m);
  std::string error;
  M out;
  ASSERT_TRUE(DecodeBody(body, &out, &error)) << what << ": " << error;
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(DecodeBody(std::span(body.data(), n), &out, &error)) << what << ": " << n << " bytes";
  }
  for (size_t extra = 1; extra <= 8; ++extra) {
    std::vector<uint8_t> longer = body;
    longer.resize(body.size() + extra, 0);
    EXPECT_FALSE(DecodeBody(longer, &out, &error)) << what << ": " << extra << " bytes more";
  }
}

TEST(ProtocolObjectKinds, BodiesOfTheNewLayoutAreLengthChecked) {
  ExpectExactLength(PublishRequest{kPublishName | kPublishKmt, SemaphoreInfo(), "Local\\s"}, "publish");
  ExpectExactLength(PublishRequest{kPublishKmt, SemaphoreInfo(), ""}, "publish without a name");
  ExpectExactLength(OpenRequest{0, "Local\\s", ObjectKind::kSemaphore}, "open by name");
  ExpectExactLength(OpenRequest{9, "", ObjectKind::kFence}, "open by KMT value");
  ExpectExactLength(OpenReply{Status::kWrongKind, 0, 0, SemaphoreInfo()}, "open reply");
  ExpectExactLength(StatusEntry{1, 2, SemaphoreInfo(), "Local\\s", {4, 5}}, "status entry");
}

TEST(ProtocolObjectKinds, RefusesAnUnknownKind) {
  std::string error;
  std::vector<uint8_t> open = EncodeBody(OpenRequest{9, "", ObjectKind::kFence});
  open[4] = 3;  // the kind follows the KMT value
  OpenRequest o;
  EXPECT_FALSE(DecodeBody(open, &o, &error));
  EXPECT_NE(error.find("unknown object kind 3"), std::string::npos) << error;
  std::vector<uint8_t> publish = EncodeBody(PublishRequest{kPublishKmt, SemaphoreInfo(), ""});
  publish[4 + 48] = 0xff;  // the kind follows the flags and the info of revision 2
  PublishRequest p;
  EXPECT_FALSE(DecodeBody(publish, &p, &error));
  EXPECT_NE(error.find("unknown object kind"), std::string::npos) << error;
  // An old body decodes as memory whatever it holds: it has no kind to refuse.
  EXPECT_TRUE(DecodeBody(EncodeBody(OpenRequest{9, ""}, 2), &o, &error, 2)) << error;
}

TEST(ShareNames, AcceptsTheThreeForms) {
  EXPECT_EQ(CheckShareName("Local\\Frame"), "");
  EXPECT_EQ(CheckShareName("Global\\Frame"), "");
  EXPECT_EQ(CheckShareName("Frame"), "");
  EXPECT_EQ(CheckShareName(std::string(260, 'a')), "");
  EXPECT_EQ(CheckShareName("Local\\" + std::string(254, 'a')), "");
}

TEST(ShareNames, RefusesBadNames) {
  EXPECT_NE(CheckShareName(""), "");
  EXPECT_NE(CheckShareName("Local\\"), "");
  EXPECT_NE(CheckShareName(std::string(261, 'a')), "");
  EXPECT_NE(CheckShareName("Local\\" + std::string(255, 'a')), "");
  EXPECT_NE(CheckShareName("Session\\1\\x"), "");
  EXPECT_NE(CheckShareName("a\\b"), "");
  EXPECT_NE(CheckShareName("a\nb"), "");
}

TEST(ShareNames, WideNamesBecomeUtf8AndCountCharacters) {
  EXPECT_EQ(WideToUtf8(L"Local\\\u00e9\u4e2d\U0001F600"), "Local\\\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
  std::wstring wide(260, L'\u4e2d');
  auto utf8 = WideToUtf8(wide.c_str());
  ASSERT_TRUE(utf8);
  EXPECT_EQ(CheckShareName(*utf8), "") << "260 characters of three bytes each are allowed";
  const wchar_t bad[] = {0xD800, 0};
  EXPECT_FALSE(WideToUtf8(bad));
}

class TempFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ntbu-XXXXXX";
    dir = mkdtemp(pattern);
  }
  void TearDown() override { std::system(("rm -rf " + dir).c_str()); }
  std::string dir;
};

using KmtValuesTest = TempFolder;

TEST_F(KmtValuesTest, ValuesAreNonzeroAndUnique) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error)) << error;
  std::set<uint32_t> seen;
  for (int i = 0; i < 20000; ++i) {
    uint32_t v = kmt.Next();
    ASSERT_NE(v, 0u);
    ASSERT_TRUE(seen.insert(v).second) << "value " << v << " issued twice";
  }
}

TEST_F(KmtValuesTest, ANewBrokerNeverIssuesAnOldValue) {
  std::set<uint32_t> old;
  {
    broker::KmtValues first;
    std::string error;
    ASSERT_TRUE(first.Open(dir + "/kmt.state", &error));
    for (int i = 0; i < 5000; ++i) old.insert(first.Next());  // past one reserved block
    EXPECT_EQ(first.generation(), 1u);
  }  // "crashes": nothing is written at exit
  broker::KmtValues second;
  std::string error;
  ASSERT_TRUE(second.Open(dir + "/kmt.state", &error));
  EXPECT_EQ(second.generation(), 2u);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(old.count(second.Next()), 0u);
}

TEST(KmtPermutation, IsABijectionOnASample) {
  std::set<uint32_t> out;
  for (uint32_t i = 0; i < 65536; ++i)
    out.insert(broker::KmtValues::Permute(i * 65521u, 0x1234567890abcdefull));
  EXPECT_EQ(out.size(), 65536u);
}

using RegistryTest = TempFolder;

int Memfd() { return memfd_create("ntbu", MFD_CLOEXEC); }

TEST_F(RegistryTest, NamesAreUniqueWhileHeldAndFreedAfter) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error));
  broker::Registry reg(&kmt, 1, 16);
  PublishRequest r{kPublishName, {}, "Local\\a"};
  auto first = reg.Publish(1, 100, r, Memfd());
  ASSERT_EQ(first.status, Status::kOk);
  EXPECT_EQ(reg.Publish(2, 200, r, Memfd()).status, Status::kNameInUse);
  PublishRequest other_case{kPublishName, {}, "Local\\A"};
  EXPECT_EQ(reg.Publish(2, 200, other_case, Memfd()).status, Status::kOk) << "names are case-sensitive";
  int fd = -1;
  auto open = reg.Open(2, 200, OpenRequest{0, "Local\\a"}, &fd);
  ASSERT_EQ(open.status, Status::kOk);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(reg.Release(1, first.payload).status, Status::kOk);
  EXPECT_EQ(reg.Publish(3, 300, r, Memfd()).status, Status::kNameInUse) << "connection 2 still holds it";
  reg.Drop(2);
  EXPECT_EQ(reg.Publish(3, 300, r, Memfd()).status, Status::kOk);
  EXPECT_EQ(reg.Release(1, first.payload).status, Status::kNotHeld);
}

TEST_F(RegistryTest, KmtValuesDieWithTheirLastHolder) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error));
  broker::Registry reg(&kmt, 1, 16);
  auto p = reg.Publish(1, 100, PublishRequest{kPublishKmt, {}, ""}, Memfd());
  ASSERT_EQ(p.status, Status::kOk);
  ASSERT_NE(p.kmt, 0u);
  int fd = -1;
  EXPECT_EQ(reg.Open(2, 200, OpenRequest{p.kmt, ""}, &fd).status, Status::kOk);
  EXPECT_EQ(reg.ShareKmt(3, p.payload).status, Status::kNotHeld) << "only holders learn a payload's value";
  EXPECT_EQ(reg.ShareKmt(2, p.payload).kmt, p.kmt);
  reg.Drop(1);
  EXPECT_EQ(reg.Open(3, 300, OpenRequest{p.kmt, ""}, &fd).status, Status::kOk);
  reg.Drop(2);
  reg.Drop(3);
  EXPECT_EQ(reg.size(), 0u);
  EXPECT_EQ(reg.Open(4, 400, OpenRequest{p.kmt, ""}, &fd).status, Status::kNotFound);
}

TEST_F(RegistryTest, OneFileIsOnePayloadWithOneKmtValue) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error));
  broker::Registry reg(&kmt, 1, 16);
  int fd = Memfd();
  auto first = reg.Publish(1, 100, PublishRequest{kPublishKmt, {}, ""}, dup(fd));
  auto second = reg.Publish(2, 200, PublishRequest{kPublishKmt, {}, ""}, dup(fd));
  auto other = reg.Publish(2, 200, PublishRequest{kPublishKmt, {}, ""}, Memfd());
  close(fd);
  ASSERT_EQ(second.status, Status::kOk);
  EXPECT_EQ(second.payload, first.payload);
  EXPECT_EQ(second.kmt, first.kmt);
  EXPECT_NE(other.kmt, first.kmt);
  EXPECT_EQ(reg.size(), 2u);
  reg.Drop(1);
  int open_fd = -1;
  EXPECT_EQ(reg.Open(3, 300, OpenRequest{first.kmt, ""}, &open_fd).status, Status::kOk)
      << "the second process's hold keeps the value alive";
}

PublishRequest Of(ObjectKind kind, uint32_t flags, const std::string& name = "") {
  PublishRequest r{flags, {}, name};
  r.info.object_kind = kind;
  return r;
}

TEST_F(RegistryTest, OneNamespaceForEveryKind) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error));
  broker::Registry reg(&kmt, 1, 16);
  auto memory = reg.Publish(1, 100, Of(ObjectKind::kMemory, kPublishName, "Local\\one"), Memfd());
  ASSERT_EQ(memory.status, Status::kOk);
  EXPECT_EQ(reg.Publish(2, 200, Of(ObjectKind::kSemaphore, kPublishName, "Local\\one"), Memfd()).status,
            Status::kNameInUse);
  EXPECT_EQ(reg.Publish(2, 200, Of(ObjectKind::kFence, kPublishName, "Local\\one"), Memfd()).status,
            Status::kNameInUse);
  auto fence = reg.Publish(2, 200, Of(ObjectKind::kFence, kPublishName, "Local\\two"), Memfd());
  ASSERT_EQ(fence.status, Status::kOk);
  EXPECT_EQ(reg.Publish(1, 100, Of(ObjectKind::kMemory, kPublishName, "Local\\two"), Memfd()).status,
            Status::kNameInUse);
  reg.Drop(1);
  EXPECT_EQ(reg.Publish(3, 300, Of(ObjectKind::kSemaphore, kPublishName, "Local\\one"), Memfd()).status,
            Status::kOk)
      << "a name freed by memory can be a semaphore's";
}

TEST_F(RegistryTest, AnOpenOfAnotherKindTakesNoHold) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error));
  broker::Registry reg(&kmt, 1, 16);
  PublishRequest r = Of(ObjectKind::kMemory, kPublishName | kPublishKmt, "Local\\m");
  r.info.allocation_size = 4096;
  auto memory = reg.Publish(1, 100, r, Memfd());
  ASSERT_EQ(memory.status, Status::kOk);
  int fd = -1;
  OpenReply wrong = reg.Open(2, 200, OpenRequest{0, "Local\\m", ObjectKind::kSemaphore}, &fd);
  EXPECT_EQ(wrong.status, Status::kWrongKind);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(wrong.payload, 0u);
  EXPECT_EQ(wrong.info.object_kind, ObjectKind::kMemory) << "the reply says what the name is";
  EXPECT_EQ(wrong.info.allocation_size, 4096u);
  EXPECT_EQ(reg.Open(2, 200, OpenRequest{memory.kmt, "", ObjectKind::kFence}, &fd).status,
            Status::kWrongKind);
  EXPECT_EQ(reg.Snapshot().at(0).holders, std::vector<uint32_t>{100});
  EXPECT_EQ(reg.Release(2, memory.payload).status, Status::kNotHeld);
  EXPECT_EQ(reg.Release(1, memory.payload).status, Status::kOk);
  EXPECT_EQ(reg.size(), 0u) << "the wrong-kind opens kept nothing alive";
}

TEST_F(RegistryTest, SemaphoresAndFencesOpenByNameAndKmtWithTheirFlags) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error));
  broker::Registry reg(&kmt, 1, 16);
  for (ObjectKind kind : {ObjectKind::kSemaphore, ObjectKind::kFence}) {
    const std::string name = std::string("Local\\") + ObjectKindName(kind);
    PublishRequest r = Of(kind, kPublishName | kPublishKmt, name);
    r.info.object_flags = 0x3;
    auto published = reg.Publish(1, 100, r, Memfd());
    ASSERT_EQ(published.status, Status::kOk) << name;
    int fd = -1;
    OpenReply by_name = reg.Open(2, 200, OpenRequest{0, name, kind}, &fd);
    ASSERT_EQ(by_name.status, Status::kOk) << name;
    EXPECT_GE(fd, 0);
    EXPECT_EQ(by_name.info, r.info);
    OpenReply by_kmt = reg.Open(2, 200, OpenRequest{published.kmt, "", kind}, &fd);
    ASSERT_EQ(by_kmt.status, Status::kOk) << name;
    EXPECT_EQ(by_kmt.payload, published.payload);
    EXPECT_EQ(by_kmt.info.object_flags, 0x3u);
    EXPECT_EQ(reg.Open(3, 300, OpenRequest{0, name, ObjectKind::kMemory}, &fd).status, Status::kWrongKind);
  }
  auto entries = reg.Snapshot();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].info.object_kind, ObjectKind::kSemaphore);
  EXPECT_EQ(entries[1].info.object_kind, ObjectKind::kFence);
}

// A KMT-only publish of a file the broker holds joins its payload only when the kinds agree.
TEST_F(RegistryTest, AFileOfOneKindIsNotSharedAsAnother) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error));
  broker::Registry reg(&kmt, 1, 16);
  int fd = Memfd();
  auto semaphore = reg.Publish(1, 100, Of(ObjectKind::kSemaphore, kPublishKmt), dup(fd));
  ASSERT_EQ(semaphore.status, Status::kOk);
  int as_memory = dup(fd);
  EXPECT_EQ(reg.Publish(2, 200, Of(ObjectKind::kMemory, kPublishKmt), as_memory).status, Status::kWrongKind);
  EXPECT_EQ(fcntl(as_memory, F_GETFD), -1) << "the refused descriptor was not closed";
  auto again = reg.Publish(2, 200, Of(ObjectKind::kSemaphore, kPublishKmt), dup(fd));
  close(fd);
  ASSERT_EQ(again.status, Status::kOk);
  EXPECT_EQ(again.kmt, semaphore.kmt);
  EXPECT_EQ(reg.size(), 1u);
}

// Mesa's opaque semaphore and fence fds are drm syncobj files, which share the one anonymous inode (as
// eventfds do): two of them are two payloads, never one.
TEST_F(RegistryTest, FilesOfTheAnonymousInodeAreNeverJoined) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error));
  broker::Registry reg(&kmt, 1, 16);
  auto first = reg.Publish(1, 100, Of(ObjectKind::kSemaphore, kPublishKmt), eventfd(0, EFD_CLOEXEC));
  auto second = reg.Publish(1, 100, Of(ObjectKind::kSemaphore, kPublishKmt), eventfd(0, EFD_CLOEXEC));
  ASSERT_EQ(first.status, Status::kOk);
  ASSERT_EQ(second.status, Status::kOk);
  EXPECT_NE(second.payload, first.payload);
  EXPECT_NE(second.kmt, first.kmt);
  EXPECT_EQ(reg.size(), 2u);
}

TEST_F(RegistryTest, RefusesPastItsLimitAndClosesTheDescriptor) {
  broker::KmtValues kmt;
  std::string error;
  ASSERT_TRUE(kmt.Open(dir + "/kmt.state", &error));
  broker::Registry reg(&kmt, 1, 1);
  ASSERT_EQ(reg.Publish(1, 1, PublishRequest{kPublishKmt, {}, ""}, Memfd()).status, Status::kOk);
  int fd = Memfd();
  EXPECT_EQ(reg.Publish(1, 1, PublishRequest{kPublishKmt, {}, ""}, fd).status, Status::kTooMany);
  EXPECT_EQ(fcntl(fd, F_GETFD), -1) << "the refused descriptor was not closed";
}

}  // namespace
}  // namespace ntbridge
