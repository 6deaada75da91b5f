// libFuzzer target: the broker's protocol decoder on arbitrary bytes (what a hostile or broken peer can
// send). Decoding never crashes or reads out of bounds; whatever decodes re-encodes to bytes that decode to
// the same.
#include <cstdint>
#include <string>
#include <vector>

#include "protocol.hpp"

namespace {

using namespace ntbridge::protocol;

// decode(encode(decode(body))) == decode(body), compared through a second encoding.
template <typename M>
void RoundTrip(std::span<const uint8_t> body) {
  M m{};
  std::string error;
  if (!ntbridge::protocol::DecodeBody(body, &m, &error)) {
    if (error.empty()) __builtin_trap();  // a refusal says why
    return;
  }
  std::vector<uint8_t> once = EncodeBody(m);
  M again{};
  if (!DecodeBody(once, &again, &error)) __builtin_trap();
  if (EncodeBody(again) != once) __builtin_trap();
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
