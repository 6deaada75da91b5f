// The futex calls the shared payload sleeps and wakes with (sync_state.cpp is their only user; the tests
// reach in to force the fallback). Payload words live in a shared mapping and use shared futexes so that a
// wake in one process reaches a sleeper in another; the doorbell is process-private.
//
// Sleeping on several words at once needs futex_waitv (Linux 5.16). Where the kernel lacks it, Sleep waits on
// one word at a time in short slices, round-robin: a wake on another word is then seen within a slice.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <span>
#include <string>
#include <vector>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

namespace ntbridge::shared_payload::futex {

using Clock = std::chrono::steady_clock;
static_assert(std::is_same_v<Clock::duration, std::chrono::nanoseconds>);

// One word to sleep on while it still holds `expected`.
struct Word {
  const uint32_t* address = nullptr;
  uint32_t expected = 0;
  bool process_private = false;
};

// The slice of the fallback: how late a wake on a word other than the one being slept on is seen.
inline constexpr std::chrono::milliseconds kFallbackSlice{1};

// Set when futex_waitv returned ENOSYS (or by a test): Sleep uses the round-robin fallback from then on.
inline std::atomic<bool> waitv_unavailable{false};

// libstdc++'s steady_clock is CLOCK_MONOTONIC, the clock futex timeouts use, so deadlines convert directly.
inline timespec ToTimespec(Clock::time_point t) {
  auto ns = t.time_since_epoch().count();
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

// Wakes every sleeper on `address` (all processes for a shared word).
inline void Wake(const uint32_t* address, bool process_private) {
  syscall(SYS_futex, address, process_private ? FUTEX_WAKE_PRIVATE : FUTEX_WAKE, INT_MAX, nullptr, nullptr,
          0);
}

namespace detail {

// Absolute CLOCK_MONOTONIC timeout: FUTEX_WAIT_BITSET takes one, plain FUTEX_WAIT only a relative one.
inline long WaitOne(const Word& w, Clock::time_point until) {
  timespec ts = ToTimespec(until);
  int op = FUTEX_WAIT_BITSET | (w.process_private ? FUTEX_PRIVATE_FLAG : 0);
  return syscall(SYS_futex, w.address, op, w.expected, &ts, nullptr, FUTEX_BITSET_MATCH_ANY);
}

inline bool Benign(int err) { return err == EAGAIN || err == ETIMEDOUT || err == EINTR; }

inline bool Fail(const char* call, int err, std::string* error) {
  if (error) *error = std::string(call) + " failed: " + std::strerror(err);
  return false;
}

}  // namespace detail

// Sleeps until a word no longer holds its expected value, a wake, a signal, or `until`, whichever comes
// first; the caller re-checks its state after every return. False (with `error`) only on an unexpected
// failure of the system call. With no words it just sleeps until `until`.
inline bool Sleep(std::span<const Word> words, Clock::time_point until, std::string* error) {
  if (words.empty()) {
    timespec ts = ToTimespec(until);
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    return r == 0 || r == EINTR || detail::Fail("clock_nanosleep", r, error);
  }
  if (words.size() == 1) {
    if (detail::WaitOne(words[0], until) == 0 || detail::Benign(errno)) return true;
    return detail::Fail("FUTEX_WAIT_BITSET", errno, error);
  }
  if (words.size() <= FUTEX_WAITV_MAX && !waitv_unavailable.load(std::memory_order_relaxed)) {
    // A small fixed array: no allocation on the wait path for the common few items.
    futex_waitv small[8];
    std::vector<futex_waitv> large;
    futex_waitv* v = small;
    if (words.size() > std::size(small)) {
      large.resize(words.size());
      v = large.data();
    }
    for (size_t i = 0; i < words.size(); ++i) {
      v[i] = futex_waitv{};
      v[i].val = words[i].expected;
      v[i].uaddr = reinterpret_cast<uintptr_t>(words[i].address);
      v[i].flags = FUTEX_32 | (words[i].process_private ? FUTEX_PRIVATE_FLAG : 0);
    }
    timespec ts = ToTimespec(until);
    long r = syscall(SYS_futex_waitv, v, static_cast<unsigned>(words.size()), 0u, &ts, CLOCK_MONOTONIC);
    if (r >= 0 || detail::Benign(errno)) return true;
    if (errno != ENOSYS) return detail::Fail("futex_waitv", errno, error);
    waitv_unavailable.store(true, std::memory_order_relaxed);
  }
  // Fallback: one word per slice, starting from a different word each time so that none is starved.
  static thread_local size_t next = 0;
  const Word& w = words[next++ % words.size()];
  Clock::time_point slice_end = Clock::now() + kFallbackSlice;
  if (detail::WaitOne(w, std::min(until, slice_end)) == 0 || detail::Benign(errno)) return true;
  return detail::Fail("FUTEX_WAIT_BITSET", errno, error);
}

}  // namespace ntbridge::shared_payload::futex
