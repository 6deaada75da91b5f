// The broker protocol (DESIGN.md §4): one message per SOCK_SEQPACKET packet, a fixed header and a body whose
// length the header states. Pure functions: encoding and length-checked decoding, no I/O.
//
// Every request is answered by exactly one reply of the same type with kReplyBit set, except kStatus, which
// is answered by zero or more kStatusEntry replies and then one kStatus reply. Descriptors travel beside a
// message with SCM_RIGHTS: one with kPublish (the payload), one with a successful kOpen reply.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ntbridge::protocol {

inline constexpr uint32_t kMagic = 0x5242544e;  // "NTBR"
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxBody = 4096;
inline constexpr size_t kMaxMessage = kHeaderSize + kMaxBody;
// Names: at most 260 characters (MAX_PATH); UTF-8 takes at most 4 bytes a character.
inline constexpr size_t kMaxNameChars = 260;
inline constexpr size_t kMaxNameBytes = kMaxNameChars * 4;
inline constexpr size_t kUuidSize = 16;

enum class Type : uint16_t {
  kPublish = 1,     // register a payload (its descriptor attached), under a name and/or with a KMT value
  kOpen = 2,        // take a hold on a payload by name or KMT value; the reply carries a descriptor
  kShareKmt = 3,    // the KMT value of a payload the sender holds (issued on first request)
  kRelease = 4,     // drop one hold on a payload
  kStatus = 5,      // what the broker holds
  kStatusEntry = 6  // one payload, in the answer to kStatus (reply only)
};
inline constexpr uint16_t kReplyBit = 0x8000;

enum class Status : uint32_t {
  kOk = 0,
  kNameInUse = 1,   // a live payload already has this name
  kNotFound = 2,    // no live payload has this name or KMT value (unknown, or released)
  kNotHeld = 3,     // the sender holds no such payload
  kBadRequest = 4,  // well-formed but not acceptable (e.g. an invalid name)
  kTooMany = 5,     // the broker is at its limit of payloads
};
const char* StatusName(Status s);

struct Header {
  uint16_t version = kVersion;
  uint16_t type = 0;
  uint32_t length = 0;  // of the body
};

// What the exporter said about its memory; checked by importers.
struct PayloadInfo {
  uint64_t allocation_size = 0;
  uint32_t memory_type_index = 0;
  uint32_t access = 0;
  uint8_t device_uuid[kUuidSize] = {};
  uint8_t driver_uuid[kUuidSize] = {};
  bool operator==(const PayloadInfo&) const = default;
};

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
};
struct OpenReply {
  Status status = Status::kOk;
  uint64_t payload = 0;
  uint32_t kmt = 0;
  PayloadInfo info;
};

struct PayloadRequest {  // kShareKmt and kRelease
  uint64_t payload = 0;
};
struct ShareKmtReply {
  Status status = Status::kOk;
  uint32_t kmt = 0;
};
struct StatusCodeReply {  // kRelease
  Status status = Status::kOk;
};

struct StatusEntry {
  uint64_t payload = 0;
  uint32_t kmt = 0;
  PayloadInfo info;
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
std::vector<uint8_t> EncodeBody(const PublishRequest& m);
std::vector<uint8_t> EncodeBody(const PublishReply& m);
std::vector<uint8_t> EncodeBody(const OpenRequest& m);
std::vector<uint8_t> EncodeBody(const OpenReply& m);
std::vector<uint8_t> EncodeBody(const PayloadRequest& m);
std::vector<uint8_t> EncodeBody(const ShareKmtReply& m);
std::vector<uint8_t> EncodeBody(const StatusCodeReply& m);
std::vector<uint8_t> EncodeBody(const StatusEntry& m);
std::vector<uint8_t> EncodeBody(const StatusReply& m);

bool DecodeBody(std::span<const uint8_t> body, PublishRequest* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, PublishReply* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, OpenRequest* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, OpenReply* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, PayloadRequest* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, ShareKmtReply* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, StatusCodeReply* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, StatusEntry* m, std::string* error);
bool DecodeBody(std::span<const uint8_t> body, StatusReply* m, std::string* error);

// Encodes a whole message: header and body.
template <typename T>
std::vector<uint8_t> EncodeMessage(Type type, bool reply, const T& m) {
  return Encode(type, reply, EncodeBody(m));
}

}  // namespace ntbridge::protocol
