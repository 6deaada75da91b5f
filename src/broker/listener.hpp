// The broker's listening socket, in its private folder, and the lock that makes it the only broker there.
#pragma once

#include <string>

namespace ntbridge::broker {

struct Listener {
  int fd = -1;
  int lock_fd = -1;  // flock held for the broker's lifetime on <folder>/broker.pid
  std::string socket_path;
  bool from_systemd = false;  // socket activation: systemd owns the socket file
};

enum class ListenResult { kOk, kAlreadyRunning, kFailed };

// Takes the folder's lock and binds `socket_path` (mode 0600; a stale socket file is replaced). With
// socket activation (LISTEN_FDS), adopts descriptor 3 instead of binding. kAlreadyRunning: another broker
// holds the lock.
ListenResult OpenListener(const std::string& socket_path, Listener* out, std::string* error);

// Records this process's id in the lock file (after daemonizing).
void WritePid(const Listener& l);

// Closes the socket; removes its file unless systemd owns it.
void CloseListener(Listener* l);

}  // namespace ntbridge::broker
