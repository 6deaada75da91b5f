// This process's id without a system call on every use: getpid is one (about 1.3 µs on the benchmark VM of
// docs/performance.md, part 2), and the broker client asks on every request whether it was forked.
#pragma once

#include <sys/types.h>

namespace ntbridge {

// getpid(), read once per process: a child made by fork, _Fork or clone without CLONE_VM reads it again
// (the cache is in a page the kernel wipes there). A vfork child must exec before calling it.
pid_t SelfPid();

}  // namespace ntbridge
