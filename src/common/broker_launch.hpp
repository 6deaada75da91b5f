// Starting the user's broker on first need (DESIGN.md §4), race-free when many processes start at once.
#pragma once

#include <string>

namespace ntbridge {

// A new close-on-exec SOCK_SEQPACKET connection to `socket_path`, or -1 (errno set; EPERM: the listening
// process belongs to another user).
int ConnectTo(const std::string& socket_path);

// The ntbridged program: NTBRIDGE_BROKER_PATH, else `configured`, else next to the library or program that
// holds this code, then ../bin and ../libexec beside it, then the install folder. Empty when none is found.
std::string FindBrokerProgram(const std::string& configured);

// Connects to the broker at `socket_path`, starting one when none answers. Processes that start at once
// take turns on a lock file in the socket's folder, so exactly one broker is started; the others connect to
// it. Returns the connection, or -1 with `error` saying why.
int ConnectOrStartBroker(const std::string& socket_path, const std::string& broker_program,
                         std::string* error);

}  // namespace ntbridge
