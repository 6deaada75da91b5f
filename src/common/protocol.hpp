// The broker protocol (DESIGN.md §4): one message per SOCK_SEQPACKET packet, a fixed header and a body whose
// length the header states. Pure functions: encoding and length-checked decoding, no I/O.
//
// Every request is answered by exactly one reply of the same type with kReplyBit set, except kStatus, which
// is answered by zero or more kStatusEntry replies and then one kStatus reply, and kReleaseOneWay, which is
// answered by none, like kRingDoorbell. Descriptors travel beside a message with SCM_RIGHTS: one with
// kPublish (the payload), one with a successful kOpen reply, one with kReleaseSocket (revision 4: the
// socket), one with a successful kReleaseRing reply (revision 6: the ring).
//
// Revisions. The header's version is the framing, unchanged since the first broker; what a peer understands
// is its revision, which a client of revision 2 or later learns with kHello as its first request. A broker of
// revision 1 closes the connection on kHello (an unknown type): the client then connects again and keeps to
// revision 1, where a release waits for its reply. The broker keeps, per connection, the revision its client
// said (1 when it said none) and answers in that client's body layout; a client keeps to the lower of the
// two.
//
// One-way releases (revision 2). A kReleaseOneWay is in the broker's receive queue of its connection when
// the sender's send returns. Before the broker answers a request whose answer depends on which payloads
// live (kOpen, kPublish, kStatus), it takes every release already queued on any other connection, up to the
// first message of that connection that is not one. So a release is seen by every request that another
// process sends after the releasing send returned, provided that everything the releasing connection sent
// before it was a release or a request already answered, which holds for a client that sends nothing while
// a request of its own waits for its reply (BrokerClient).
//
// Object kinds (revision 3). A payload is of one kind: memory, semaphore or fence (DESIGN.md §7), all in one
// namespace of names and KMT values per user. From revision 3 the payload info (in kPublish, kOpen replies
// and kStatusEntry) ends with the kind and flags of the object, and kOpen says the kind it expects after its
// KMT value. An open of a payload of another kind takes no hold and is answered kWrongKind, with the info of
// what the payload is; a publish under a name that a payload of any kind has is kNameInUse. Bodies of
// revisions 1 and 2 have neither field: they decode as memory, and what the broker tells such a client is in
// its terms (a payload of another kind is kNotFound to it). A client of a broker before revision 3 can share
// no semaphores or fences through it.
//
// Release sockets (revision 4). A one-way release on the connection wakes the broker, which sleeps in poll on
// it: a second wake-up for every open + free by name or KMT value. From revision 4 a client may give the
// broker one end of a socket pair of its own (SOCK_SEQPACKET, attached to kReleaseSocket, right after kHello)
// and send its one-way releases there instead. The broker does not poll that socket; it reads it, exactly
// what was queued (FIONREAD), wherever the guarantee above needs it: before it answers kOpen, kPublish or
// kStatus from anyone (every client's release socket, its own included) and before any other request of the
// same client; within 1 s after a release arrived when no such request comes, so that a process that only
// frees lets its payloads go (a timer, which runs only while releases come: an idle broker sleeps); and when
// the connection closes, whose holds all go. The guarantee is the same: a release is in the broker's queue of
// that socket when the sender's send returns. Only kReleaseOneWay, without descriptors, may come on a release
// socket; anything else closes the client's connection, and nothing else. Where the release socket is full
// the client sends the release on its connection, as before revision 4 (which wakes the broker, and it reads
// both). A broker before revision 4 never hears of release sockets; its clients' releases go on the
// connection.
//
// Payload files (revision 5). A kOpen reply ends with what fstat said of the broker's descriptor of the
// payload when it was published (device, inode, type, size): the importer checks that instead of an fstat of
// its own, a system call on the path of every open (docs/performance.md, part 2). Device, inode and type of
// an open file never change; the size of a memfd can, by ftruncate of any holder, which no check at import
// time can rule out either. A broker whose fstat failed sends mode 0, and the client asks the kernel. Bodies
// of revisions before 5 have no such field: their clients use fstat.
//
// Release rings (revision 6). Reading a release socket costs the broker two system calls before every open
// (a poll of the sockets and a recvmmsg), and its client one per free: from revision 6 a client asks for a
// release ring instead (kReleaseRing right after kHello: no body, a StatusCodeReply with the ring's
// descriptor on kOk), one page of shared memory in which it writes its one-way releases (release_ring.hpp).
// The broker reads every ring where it would read the release sockets: before it answers kOpen, kPublish or
// kStatus from anyone, before any other request of the same client, on the timer, and not at all when the
// connection closes (every hold goes). Only while the broker sleeps without reading them (it idles: no
// release came for a second) does a release need a wake-up: the broker sets the page's doorbell, and the
// client then sends kRingDoorbell (no body, no reply) on its connection after writing the release. When the
// ring is full (the broker has not read it for a while) the release goes on the connection, as before
// revision 4, which wakes the broker, and it reads both. A connection has a release socket or a ring, not
// both; a client whose broker refuses the ring (or is older) uses a release socket. A page that claims more
// releases than it holds closes its client's connection.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ntbridge::protocol {

inline constexpr uint32_t kMagic = 0x5242544e;         // "NTBR"
inline constexpr uint16_t kVersion = 1;                // of the header (the framing)
inline constexpr uint32_t kRevision = 6;               // what this side understands (see "Revisions" above)
inline constexpr uint32_t kRevisionObjectKinds = 3;    // the first whose bodies carry an object kind
inline constexpr uint32_t kRevisionReleaseSocket = 4;  // the first with release sockets (kReleaseSocket)
inline constexpr uint32_t kRevisionPayloadFile = 5;    // the first whose kOpen replies carry a PayloadFile
inline constexpr uint32_t kRevisionReleaseRing = 6;    // the first with release rings (kReleaseRing)
inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxBody = 4096;
inline constexpr size_t kMaxMessage = kHeaderSize + kMaxBody;
// Names: at most 260 characters (MAX_PATH); UTF-8 takes at most 4 bytes a character.
inline constexpr size_t kMaxNameChars = 260;
inline constexpr size_t kMaxNameBytes = kMaxNameChars * 4;
inline constexpr size_t kUuidSize = 16;

enum class Type : uint16_t {
  kPublish = 1,        // register a payload (its descriptor attached), under a name and/or with a KMT value
  kOpen = 2,           // take a hold on a payload by name or KMT value; the reply carries a descriptor
  kShareKmt = 3,       // the KMT value of a payload the sender holds (issued on first request)
  kRelease = 4,        // drop one hold on a payload
  kStatus = 5,         // what the broker holds
  kStatusEntry = 6,    // one payload, in the answer to kStatus (reply only)
  kHello = 7,          // the revisions of both sides (revision 2)
  kReleaseOneWay = 8,  // kRelease without a reply (revision 2; request only)
  kReleaseSocket = 9,  // the client's release socket attached; no body; a StatusCodeReply (revision 4)
  kReleaseRing = 10,   // no body; a StatusCodeReply with the ring's descriptor on kOk (revision 6)
  kRingDoorbell = 11,  // look at my release ring; no body, no reply (revision 6; request only)
};
inline constexpr uint16_t kReplyBit = 0x8000;

enum class Status : uint32_t {
  kOk = 0,
  kNameInUse = 1,   // a live payload already has this name
  kNotFound = 2,    // no live payload has this name or KMT value (unknown, or released)
  kNotHeld = 3,     // the sender holds no such payload
  kBadRequest = 4,  // well-formed but not acceptable (e.g. an invalid name)
  kTooMany = 5,     // the broker is at its limit of payloads
  kWrongKind = 6,   // the payload is of another object kind than asked (revision 3)
};
const char* StatusName(Status s);

// What a payload is (revision 3; memory before). Names and KMT values of all kinds share one namespace.
enum class ObjectKind : uint32_t { kMemory = 0, kSemaphore = 1, kFence = 2 };
const char* ObjectKindName(ObjectKind k);  // "memory", "semaphore", "fence"

struct Header {
  uint16_t version = kVersion;
  uint16_t type = 0;
  uint32_t length = 0;  // of the body
};

// What the exporter said about its object; checked by importers. The broker keeps it and tells it back.
struct PayloadInfo {
  uint64_t allocation_size = 0;  // memory; 0 for semaphores and fences
  uint32_t memory_type_index = 0;
  uint32_t access = 0;
  uint8_t device_uuid[kUuidSize] = {};
  uint8_t driver_uuid[kUuidSize] = {};
  ObjectKind object_kind = ObjectKind::kMemory;  // revision 3
  uint32_t object_flags =
      0;  // revision 3; the layer's, e.g. timeline or binary semaphore, driver or shared payload
  bool operator==(const PayloadInfo&) const = default;
};

// PayloadInfo::object_flags of semaphores and fences, as the layer sets them (src/layer/sync.cpp keeps its
// own copy of these values): the broker keeps them without looking; libntbridge reads them to tell what a KMT
// value or name is before it hands out a descriptor.
inline constexpr uint32_t kSyncFlagTimeline = 1;       // a timeline semaphore (else binary, or a fence)
inline constexpr uint32_t kSyncFlagSharedPayload = 2;  // the layer's shared payload (else the driver's)

inline constexpr uint32_t kPublishName = 1;  // register under `name`
inline constexpr uint32_t kPublishKmt = 2;   // issue a KMT value now

struct PublishRequest {
  uint32_t flags = 0;
  PayloadInfo info;
  std::string name;  // UTF-8, empty unless kPublishName
};
struct PublishReply {
  Status status = Status::kOk;
  uint64_t payload = 0;
  uint32_t kmt = 0;
};

struct OpenRequest {
  uint32_t kmt = 0;  // nonzero: open by KMT value (then name is empty)
  std::string name;
  ObjectKind object_kind = ObjectKind::kMemory;  // what the opener expects (revision 3)
};
// What the broker's descriptor of a payload is, as fstat said at its publish (revision 5; mode 0: unknown).
struct PayloadFile {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t rdev = 0;
  uint32_t mode = 0;
  uint64_t size = 0;
  bool operator==(const PayloadFile&) const = default;
};

struct OpenReply {
  Status status = Status::kOk;
  uint64_t payload = 0;
  uint32_t kmt = 0;
  PayloadInfo info;  // also with kWrongKind: what the payload is (no hold is taken)
  PayloadFile file;  // with kOk, from revision 5
};

struct HelloRequest {
  uint32_t revision = kRevision;
};
struct HelloReply {
  uint32_t revision = kRevision;
};

struct PayloadRequest {  // kShareKmt, kRelease and kReleaseOneWay
  uint64_t payload = 0;
};
struct ShareKmtReply {
  Status status = Status::kOk;
  uint32_t kmt = 0;
};
struct StatusCodeReply {  // kRelease, kReleaseSocket, kReleaseRing
  Status status = Status::kOk;
};

struct StatusEntry {
  uint64_t payload = 0;
  uint32_t kmt = 0;
  PayloadInfo info;  // with the object's kind
  std::string name;
  std::vector<uint32_t> holders;  // process ids, one per hold
};
struct StatusReply {  // ends the answer to kStatus
  uint32_t broker_pid = 0;
  uint32_t connections = 0;
  uint32_t payloads = 0;
  uint32_t kmt_generation = 0;  // how many brokers have run in this folder, this one included
};
inline constexpr size_t kMaxHolders = 256;  // listed per entry; more are counted only

// A decoded message: header plus body bytes (a view into the caller's buffer).
struct Message {
  Header header;
  std::span<const uint8_t> body;
};

// Checks magic, version, type and that the body length is what the header says and within kMaxBody.
// On failure returns nullopt and says why in `error`.
std::optional<Message> DecodeMessage(std::span<const uint8_t> bytes, std::string* error);

std::vector<uint8_t> Encode(Type type, bool reply, std::span<const uint8_t> body);

// Bodies. Encode*: the body bytes. Decode*: false (with `error`) on a short, long or invalid body.
// Those whose layout changed take the revision of the peer's layout (the newest by default): before
// revision 3 they have no object kind, which decodes as kMemory and is left out when encoding (the caller
// keeps objects of other kinds from such a peer, or tells it about them in its terms).
std::vector<uint8_t> EncodeBody(const HelloRequest& m);
std::vector<uint8_t> EncodeBody(const HelloReply& m);
std::vector<uint8_t> EncodeBody(const PublishRequest& m, uint32_t revision = kRevision);
std::vector<uint8_t> EncodeBody(const PublishReply& m);
std::vector<uint8_t> EncodeBody(const OpenRequest& m, uint32_t revision = kRevision);
std::vector<uint8_t> EncodeBody(const OpenReply& m, uint32_t revision = kRevision);
std::vector<uint8_t> EncodeBody(const PayloadRequest& m);
std::vector<uint8_t> EncodeBody(const ShareKmtReply& m);
std::vector<uint8_t> EncodeBody(const StatusCodeReply& m);
std::vector<uint8_t> EncodeBody(const StatusEntry& m, uint32_t revision = kRevision);
std::vector<uint8_t> EncodeBody(const StatusReply& m);

bool DecodeBody(std::span<const uint8_t> body, HelloRequest* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, HelloReply* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, PublishRequest* m, std::string* error,
                uint32_t revision = kRevision);
bool DecodeBody(std::span<const uint8_t> body, PublishReply* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, OpenRequest* m, std::string* error,
                uint32_t revision = kRevision);
bool DecodeBody(std::span<const uint8_t> body, OpenReply* m, std::string* error,
                uint32_t revision = kRevision);
bool DecodeBody(std::span<const uint8_t> body, PayloadRequest* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, ShareKmtReply* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, StatusCodeReply* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, StatusEntry* m, std::string* error,
                uint32_t revision = kRevision);
bool DecodeBody(std::span<const uint8_t> body, StatusReply* m, std::string* error);

// Encodes a whole message: header and body.
template <typename T>
std::vector<uint8_t> EncodeMessage(Type type, bool reply, const T& m) {
  return Encode(type, reply, EncodeBody(m));
}
// In the layout of `revision` (for the bodies that take one).
template <typename T>
std::vector<uint8_t> EncodeMessage(Type type, bool reply, const T& m, uint32_t revision) {
  return Encode(type, reply, EncodeBody(m, revision));
}

}  // namespace ntbridge::protocol
