#include "protocol.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace ntbridge::protocol {
namespace {

// Little-endian writer and a reader that fails, rather than reads past the end.
class Writer {
 public:
  // Room for any fixed-size body, so that encoding allocates once.
  explicit Writer(size_t reserve = 96) { out_.reserve(reserve); }
  void U16(uint16_t v) { Bytes(&v, sizeof v); }
  void U32(uint32_t v) { Bytes(&v, sizeof v); }
  void U64(uint64_t v) { Bytes(&v, sizeof v); }
  void Bytes(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  // A length (u16) then the bytes.
  void String(const std::string& s) {
    U16(static_cast<uint16_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  void Info(const PayloadInfo& i, uint32_t revision) {
    U64(i.allocation_size);
    U32(i.memory_type_index);
    U32(i.access);
    Bytes(i.device_uuid, kUuidSize);
    Bytes(i.driver_uuid, kUuidSize);
    if (revision >= kRevisionObjectKinds) {
      U32(static_cast<uint32_t>(i.object_kind));
      U32(i.object_flags);
    }
  }
  std::vector<uint8_t> Take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

static_assert(std::endian::native == std::endian::little, "the protocol is little-endian");

class Reader {
 public:
  Reader(std::span<const uint8_t> in, std::string* error) : in_(in), error_(error) {}
  bool U16(uint16_t* v) { return Bytes(v, sizeof *v); }
  bool U32(uint32_t* v) { return Bytes(v, sizeof *v); }
  bool U64(uint64_t* v) { return Bytes(v, sizeof *v); }
  bool Bytes(void* p, size_t n) {
    if (in_.size() - pos_ < n) return Fail("body is truncated");
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool String(std::string* s, size_t max) {
    uint16_t n = 0;
    if (!U16(&n)) return false;
    if (n > max)
      return Fail("string of " + std::to_string(n) + " bytes is longer than " + std::to_string(max));
    if (in_.size() - pos_ < n) return Fail("string is truncated");
    s->assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    if (s->find('\0') != std::string::npos) return Fail("string holds a NUL byte");
    return true;
  }
  bool Info(PayloadInfo* i, uint32_t revision) {
    if (!(U64(&i->allocation_size) && U32(&i->memory_type_index) && U32(&i->access) &&
          Bytes(i->device_uuid, kUuidSize) && Bytes(i->driver_uuid, kUuidSize))) {
      return false;
    }
    i->object_kind = ObjectKind::kMemory;  // all there was before revision 3
    i->object_flags = 0;
    return revision < kRevisionObjectKinds || (Kind(&i->object_kind) && U32(&i->object_flags));
  }
  bool Kind(ObjectKind* k) {
    uint32_t v = 0;
    if (!U32(&v)) return false;
    if (v > static_cast<uint32_t>(ObjectKind::kFence))
      return Fail("unknown object kind " + std::to_string(v));
    *k = static_cast<ObjectKind>(v);
    return true;
  }
  bool StatusCode(Status* s) {
    uint32_t v = 0;
    if (!U32(&v)) return false;
    if (v > static_cast<uint32_t>(Status::kWrongKind)) return Fail("unknown status " + std::to_string(v));
    *s = static_cast<Status>(v);
    return true;
  }
  // The body must have been consumed exactly.
  bool End() {
    if (pos_ != in_.size()) return Fail(std::to_string(in_.size() - pos_) + " unexpected bytes at the end");
    return true;
  }
  bool Fail(const std::string& why) {
    if (error_ != nullptr) *error_ = why;
    return false;
  }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  std::string* error_;
};

bool KnownType(uint16_t type) {
  bool reply = (type & kReplyBit) != 0;
  switch (static_cast<Type>(type & ~kReplyBit)) {
    case Type::kPublish:
    case Type::kOpen:
    case Type::kShareKmt:
    case Type::kRelease:
    case Type::kStatus:
    case Type::kHello:
    case Type::kReleaseSocket:
    case Type::kReleaseRing:
      return true;
    case Type::kStatusEntry:
      return reply;
    case Type::kReleaseOneWay:
    case Type::kRingDoorbell:
      return !reply;
  }
  return false;
}

}  // namespace

const char* StatusName(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kNameInUse:
      return "name in use";
    case Status::kNotFound:
      return "not found";
    case Status::kNotHeld:
      return "not held";
    case Status::kBadRequest:
      return "bad request";
    case Status::kTooMany:
      return "too many payloads";
    case Status::kWrongKind:
      return "wrong object kind";
  }
  return "unknown";
}

const char* ObjectKindName(ObjectKind k) {
  switch (k) {
    case ObjectKind::kMemory:
      return "memory";
    case ObjectKind::kSemaphore:
      return "semaphore";
    case ObjectKind::kFence:
      return "fence";
  }
  return "unknown";
}

std::optional<Message> DecodeMessage(std::span<const uint8_t> bytes, std::string* error) {
  Reader r(bytes, error);
  uint32_t magic = 0;
  Message m;
  if (bytes.size() < kHeaderSize) {
    r.Fail("message of " + std::to_string(bytes.size()) + " bytes is shorter than the header");
    return std::nullopt;
  }
  r.U32(&magic);
  r.U16(&m.header.version);
  r.U16(&m.header.type);
  r.U32(&m.header.length);
  if (magic != kMagic) {
    r.Fail("bad magic value");
    return std::nullopt;
  }
  if (m.header.version != kVersion) {
    r.Fail("protocol version " + std::to_string(m.header.version) + ", expected " + std::to_string(kVersion));
    return std::nullopt;
  }
  if (!KnownType(m.header.type)) {
    r.Fail("unknown message type " + std::to_string(m.header.type));
    return std::nullopt;
  }
  if (m.header.length > kMaxBody) {
    r.Fail("body length " + std::to_string(m.header.length) + " is over the limit of " +
           std::to_string(kMaxBody));
    return std::nullopt;
  }
  if (m.header.length != bytes.size() - kHeaderSize) {
    r.Fail("header says " + std::to_string(m.header.length) + " body bytes, message has " +
           std::to_string(bytes.size() - kHeaderSize));
    return std::nullopt;
  }
  m.body = bytes.subspan(kHeaderSize);
  return m;
}

std::vector<uint8_t> Encode(Type type, bool reply, std::span<const uint8_t> body) {
  Writer w(kHeaderSize + body.size());
  w.U32(kMagic);
  w.U16(kVersion);
  w.U16(static_cast<uint16_t>(static_cast<uint16_t>(type) | (reply ? kReplyBit : 0)));
  w.U32(static_cast<uint32_t>(body.size()));
  w.Bytes(body.data(), body.size());
  return w.Take();
}

std::vector<uint8_t> EncodeBody(const HelloRequest& m) {
  Writer w;
  w.U32(m.revision);
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, HelloRequest* m, std::string* error) {
  Reader r(body, error);
  if (!(r.U32(&m->revision) && r.End())) return false;
  if (m->revision == 0) return r.Fail("revision 0");
  return true;
}

std::vector<uint8_t> EncodeBody(const HelloReply& m) {
  Writer w;
  w.U32(m.revision);
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, HelloReply* m, std::string* error) {
  Reader r(body, error);
  if (!(r.U32(&m->revision) && r.End())) return false;
  if (m->revision == 0) return r.Fail("revision 0");
  return true;
}

std::vector<uint8_t> EncodeBody(const PublishRequest& m, uint32_t revision) {
  Writer w;
  w.U32(m.flags);
  w.Info(m.info, revision);
  w.String(m.name);
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, PublishRequest* m, std::string* error, uint32_t revision) {
  Reader r(body, error);
  if (!(r.U32(&m->flags) && r.Info(&m->info, revision) && r.String(&m->name, kMaxNameBytes) && r.End()))
    return false;
  if ((m->flags & ~(kPublishName | kPublishKmt)) != 0 || m->flags == 0)
    return r.Fail("invalid publish flags");
  if (((m->flags & kPublishName) != 0) != !m->name.empty()) return r.Fail("name and flags disagree");
  return true;
}

std::vector<uint8_t> EncodeBody(const PublishReply& m) {
  Writer w;
  w.U32(static_cast<uint32_t>(m.status));
  w.U64(m.payload);
  w.U32(m.kmt);
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, PublishReply* m, std::string* error) {
  Reader r(body, error);
  return r.StatusCode(&m->status) && r.U64(&m->payload) && r.U32(&m->kmt) && r.End();
}

std::vector<uint8_t> EncodeBody(const OpenRequest& m, uint32_t revision) {
  Writer w;
  w.U32(m.kmt);
  if (revision >= kRevisionObjectKinds) w.U32(static_cast<uint32_t>(m.object_kind));
  w.String(m.name);
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, OpenRequest* m, std::string* error, uint32_t revision) {
  Reader r(body, error);
  m->object_kind = ObjectKind::kMemory;
  if (!(r.U32(&m->kmt) && (revision < kRevisionObjectKinds || r.Kind(&m->object_kind)) &&
        r.String(&m->name, kMaxNameBytes) && r.End())) {
    return false;
  }
  if ((m->kmt != 0) == !m->name.empty()) return r.Fail("open names exactly one of a KMT value and a name");
  return true;
}

std::vector<uint8_t> EncodeBody(const OpenReply& m, uint32_t revision) {
  Writer w;
  w.U32(static_cast<uint32_t>(m.status));
  w.U64(m.payload);
  w.U32(m.kmt);
  w.Info(m.info, revision);
  if (revision >= kRevisionPayloadFile) {
    w.U64(m.file.dev);
    w.U64(m.file.ino);
    w.U64(m.file.rdev);
    w.U32(m.file.mode);
    w.U64(m.file.size);
  }
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, OpenReply* m, std::string* error, uint32_t revision) {
  Reader r(body, error);
  m->file = {};
  return r.StatusCode(&m->status) && r.U64(&m->payload) && r.U32(&m->kmt) && r.Info(&m->info, revision) &&
         (revision < kRevisionPayloadFile ||
          (r.U64(&m->file.dev) && r.U64(&m->file.ino) && r.U64(&m->file.rdev) && r.U32(&m->file.mode) &&
           r.U64(&m->file.size))) &&
         r.End();
}

std::vector<uint8_t> EncodeBody(const PayloadRequest& m) {
  Writer w;
  w.U64(m.payload);
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, PayloadRequest* m, std::string* error) {
  Reader r(body, error);
  return r.U64(&m->payload) && r.End();
}

std::vector<uint8_t> EncodeBody(const ShareKmtReply& m) {
  Writer w;
  w.U32(static_cast<uint32_t>(m.status));
  w.U32(m.kmt);
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, ShareKmtReply* m, std::string* error) {
  Reader r(body, error);
  return r.StatusCode(&m->status) && r.U32(&m->kmt) && r.End();
}

std::vector<uint8_t> EncodeBody(const StatusCodeReply& m) {
  Writer w;
  w.U32(static_cast<uint32_t>(m.status));
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, StatusCodeReply* m, std::string* error) {
  Reader r(body, error);
  return r.StatusCode(&m->status) && r.End();
}

std::vector<uint8_t> EncodeBody(const StatusEntry& m, uint32_t revision) {
  Writer w;
  w.U64(m.payload);
  w.U32(m.kmt);
  w.Info(m.info, revision);
  w.String(m.name);
  size_t n = std::min(m.holders.size(), kMaxHolders);
  w.U32(static_cast<uint32_t>(m.holders.size()));
  for (size_t i = 0; i < n; ++i) w.U32(m.holders[i]);
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, StatusEntry* m, std::string* error, uint32_t revision) {
  Reader r(body, error);
  uint32_t count = 0;
  if (!(r.U64(&m->payload) && r.U32(&m->kmt) && r.Info(&m->info, revision) &&
        r.String(&m->name, kMaxNameBytes) && r.U32(&count))) {
    return false;
  }
  size_t listed = std::min<size_t>(count, kMaxHolders);
  m->holders.resize(listed);
  for (auto& h : m->holders) {
    if (!r.U32(&h)) return false;
  }
  return r.End();
}

std::vector<uint8_t> EncodeBody(const StatusReply& m) {
  Writer w;
  w.U32(m.broker_pid);
  w.U32(m.connections);
  w.U32(m.payloads);
  w.U32(m.kmt_generation);
  return w.Take();
}
bool DecodeBody(std::span<const uint8_t> body, StatusReply* m, std::string* error) {
  Reader r(body, error);
  return r.U32(&m->broker_pid) && r.U32(&m->connections) && r.U32(&m->payloads) &&
         r.U32(&m->kmt_generation) && r.End();
}

}  // namespace ntbridge::protocol
