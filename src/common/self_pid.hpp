// This process's id without a system call on every use: getpid is one (about 1.3 µs on the benchmark VM of
// docs/performance.md, part 2), and the broker client asks on every request whether it was forked.
#pragma once

#include <sys/types.h>

namespace ntbridge {

// getpid(), read once and again in a child of fork() (pthread_atfork).
pid_t SelfPid();

}  // namespace ntbridge
