// The broker's event loop: accepts connections of this user only (SO_PEERCRED), answers one request at a time
// per connection, and drops a connection, with every hold it had, when it closes or sends anything malformed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "registry.hpp"

namespace ntbridge::broker {

struct ServerOptions {
  int idle_exit_seconds = 0;  // exit after this long without connections (0: never)
  size_t max_connections = 4096;
};

class Server {
 public:
  Server(int listen_fd, Registry* registry, const KmtValues* kmt, const ServerOptions& options);
  ~Server();
  // Runs until asked to stop (SIGTERM/SIGINT) or idle for too long. Returns the exit status.
  int Run();

 private:
  struct Connection {
    int fd = -1;
    ConnectionId id = 0;
    pid_t pid = 0;
  };
  void Accept();
  // Reads and answers one request; false when the connection must close.
  bool Serve(Connection& c);
  bool Handle(Connection& c, uint16_t type, std::span<const uint8_t> body, std::vector<int>& fds,
              std::string* why);
  bool Reply(Connection& c, protocol::Type type, const std::vector<uint8_t>& body, int fd = -1);
  void CloseConnection(Connection& c, const std::string& why);

  int listen_fd_;
  Registry* registry_;
  const KmtValues* kmt_;
  ServerOptions options_;
  ConnectionId next_id_ = 1;
  std::map<int, Connection> connections_;  // by descriptor
};

// Signal handling for Run(): SIGTERM and SIGINT stop the loop, SIGPIPE is ignored.
void InstallSignalHandlers();

}  // namespace ntbridge::broker
