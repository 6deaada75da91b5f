#include "self_pid.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>

namespace ntbridge {
namespace {

std::atomic<pid_t> g_pid{0};

}  // namespace

pid_t SelfPid() {
  pid_t pid = g_pid.load(std::memory_order_relaxed);
  if (pid != 0) return pid;
  // Without the fork handler a cached value could be the parent's: then every call asks the kernel.
  static const bool registered = [] {
    return pthread_atfork(nullptr, nullptr, [] { g_pid.store(getpid(), std::memory_order_relaxed); }) == 0;
  }();
  pid = getpid();
  if (registered) g_pid.store(pid, std::memory_order_relaxed);
  return pid;
}

}  // namespace ntbridge
