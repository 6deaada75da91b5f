#include "demo_protocol.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "errors.hpp"

namespace ntbridge::tool {

void SendDemo(int socket, DemoKind kind, uint32_t frame, uint64_t checksum, uint64_t bytes,
              const std::string& text) {
  DemoMessage message;
  message.kind = kind;
  message.frame = frame;
  message.checksum = checksum;
  message.bytes = bytes;
  std::strncpy(message.text, text.c_str(), sizeof message.text - 1);
  if (send(socket, &message, sizeof message, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof message)) {
    throw ToolError(std::string("sending a demo message failed: ") + std::strerror(errno),
                    "the other demo process has probably died; look above for its error");
  }
}

DemoMessage ReceiveDemo(int socket, const char* peer) {
  DemoMessage message;
  ssize_t n;
  do {
    n = recv(socket, &message, sizeof message, 0);
  } while (n < 0 && errno == EINTR);
  if (n == 0) {
    throw ToolError(std::string("the ") + peer + " process closed the connection",
                    "look above for its error message");
  }
  if (n != static_cast<ssize_t>(sizeof message) || message.kind < DemoKind::kReady ||
      message.kind > DemoKind::kError) {
    throw ToolError(std::string("malformed message from the ") + peer + " process",
                    "run both processes from the same ntbridge build");
  }
  message.text[sizeof message.text - 1] = '\0';
  if (message.kind == DemoKind::kError) {
    throw ToolError(std::string("the ") + peer + " process failed: " + message.text, "see its message above");
  }
  return message;
}

}  // namespace ntbridge::tool
