// The demo's messages after the shared memory itself (ntbridge_send_memory) went over the socket: one
// fixed-size record per SOCK_SEQPACKET packet.
#pragma once

#include <cstdint>
#include <string>

namespace ntbridge::tool {

enum class DemoKind : uint32_t { kReady = 1, kFrame, kAck, kDone, kError };

struct DemoMessage {
  DemoKind kind{};
  uint32_t frame = 0;
  uint64_t checksum = 0;
  uint64_t bytes = 0;   // kFrame: how many bytes of the shared memory the checksum covers
  char text[240] = {};  // kReady: the consumer's device name; kError: what failed
};

void SendDemo(int socket, DemoKind kind, uint32_t frame = 0, uint64_t checksum = 0, uint64_t bytes = 0,
              const std::string& text = {});
// Throws ToolError when the peer closed the connection or sent a malformed record.
DemoMessage ReceiveDemo(int socket, const char* peer);

}  // namespace ntbridge::tool
