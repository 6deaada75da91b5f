// libFuzzer target: the broker's protocol decoder on arbitrary bytes (what a hostile or broken peer can
// send). Decoding never crashes or reads out of bounds; whatever decodes re-encodes to bytes that decode to
// the same, in each layout a body has (before and from revision 3, for those with an object kind; before and
// from revision 5 for kOpen replies).
#include <cstdint>
#include <string>
#include <vector>

#include "protocol.hpp"

namespace {

using namespace ntbridge::protocol;

// Bodies whose layout depends on the revision.
template <typename M>
constexpr bool kPerRevision = requires(const M& m) {
  EncodeBody(m, kRevision);
};

// decode(encode(decode(body))) == decode(body), compared through a second encoding.
template <typename M>
void RoundTripIn(std::span<const uint8_t> body, uint32_t revision) {
  auto encode = [&](const M& m) {
    if constexpr (kPerRevision<M>) {
      return EncodeBody(m, revision);
    } else {
      return EncodeBody(m);
    }
  };
  auto decode = [&](std::span<const uint8_t> b, M* m, std::string* error) {
    if constexpr (kPerRevision<M>) {
      return DecodeBody(b, m, error, revision);
    } else {
      return DecodeBody(b, m, error);
    }
  };
  M m{};
  std::string error;
  if (!decode(body, &m, &error)) {
    if (error.empty()) __builtin_trap();  // a refusal says why
    return;
  }
  std::vector<uint8_t> once = encode(m);
  M again{};
  if (!decode(once, &again, &error)) __builtin_trap();
  if (encode(again) != once) __builtin_trap();
}

template <typename M>
void RoundTrip(std::span<const uint8_t> body) {
  RoundTripIn<M>(body, kRevision);
  if constexpr (kPerRevision<M>) {
    RoundTripIn<M>(body, kRevisionObjectKinds - 1);
    RoundTripIn<M>(body, kRevisionPayloadFile - 1);  // kOpen replies without the payload's file
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  std::string error;
  std::optional<Message> message = DecodeMessage(bytes, &error);
  if (!message) {
    if (error.empty()) __builtin_trap();
  } else if (message->body.size() > bytes.size()) {
    __builtin_trap();
  }
  // Every body decoder on the raw bytes too: a peer may lie about the type.
  std::span<const uint8_t> body = message ? message->body : bytes;
  RoundTrip<HelloRequest>(body);
  RoundTrip<HelloReply>(body);
  RoundTrip<PublishRequest>(body);
  RoundTrip<PublishReply>(body);
  RoundTrip<OpenRequest>(body);
  RoundTrip<OpenReply>(body);
  RoundTrip<PayloadRequest>(body);
  RoundTrip<ShareKmtReply>(body);
  RoundTrip<StatusCodeReply>(body);
  RoundTrip<StatusEntry>(body);
  RoundTrip<StatusReply>(body);
  return 0;
}
