#include "self_pid.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <new>

namespace ntbridge {
namespace {

// The cached pid lives alone in a page that the kernel zeroes in every child made without CLONE_VM: fork,
// glibc's _Fork and a raw clone(2) alike (MADV_WIPEONFORK, Linux 4.14). A pthread_atfork handler would miss
// the last two, and the child would take its parent's pid for its own. A child made with CLONE_VM (vfork,
// posix_spawn) shares the parent's memory and must not call this before exec; threads share the pid anyway.
// nullptr where the page cannot be had: then every call asks the kernel.
std::atomic<pid_t>* WipedOnForkCell() {
#ifdef MADV_WIPEONFORK
  const long page_size = sysconf(_SC_PAGESIZE);
  if (page_size <= 0) return nullptr;
  const size_t size = static_cast<size_t>(page_size);
  void* page = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return nullptr;
  if (madvise(page, size, MADV_WIPEONFORK) != 0) {  // EINVAL before Linux 4.14
    munmap(page, size);
    return nullptr;
  }
  static_assert(std::atomic<pid_t>::is_always_lock_free);
  return new (page) std::atomic<pid_t>(0);  // all zero bits: a wiped page holds the same object, unset
#else
  return nullptr;
#endif
}

// Where SelfPid looks first: the wiped page once it is mapped; before that, and for good where it cannot be
// had, a cell that stays 0, so that the fast path is two plain loads and no check of a static's guard.
constinit std::atomic<pid_t> g_never_set{0};
constinit std::atomic<std::atomic<pid_t>*> g_cell{&g_never_set};

[[gnu::noinline]] pid_t ReadAndCache() {
  // Mapped once per process, never unmapped: a child inherits the mapping (zeroed), not the need for another.
  static const bool mapped = [] {
    std::atomic<pid_t>* cell = WipedOnForkCell();
    if (cell == nullptr) return false;
    g_cell.store(cell, std::memory_order_release);  // after the cell's construction
    return true;
  }();
  const pid_t pid = getpid();
  if (mapped) g_cell.load(std::memory_order_relaxed)->store(pid, std::memory_order_relaxed);
  return pid;
}

}  // namespace

pid_t SelfPid() {
  // Acquire: a plain load on x86; pairs with the publication of the mapped cell.
  const pid_t pid = g_cell.load(std::memory_order_acquire)->load(std::memory_order_relaxed);
  return pid != 0 ? pid : ReadAndCache();
}

}  // namespace ntbridge
