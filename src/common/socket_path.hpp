// Where the broker of this user listens: $XDG_RUNTIME_DIR/ntbridge/broker.sock, else
// /tmp/ntbridge-<uid>/broker.sock; the folder is private (mode 0700, owned by the user).
#pragma once

#include <string>

namespace ntbridge {

inline constexpr const char* kSocketName = "broker.sock";

// The socket path: `override_path` when not empty, else the default for this user and environment.
std::string BrokerSocketPath(const std::string& override_path = {});

// The folder part of a socket path.
std::string FolderOf(const std::string& path);

// Creates `folder` (mode 0700) if missing; checks that it is a real folder owned by this user that no one
// else can enter. On failure returns false and says why in `error`.
bool EnsurePrivateFolder(const std::string& folder, std::string* error);

}  // namespace ntbridge
