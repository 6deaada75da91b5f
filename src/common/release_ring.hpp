// Release rings (protocol revision 6, protocol.hpp): one page of shared memory per client connection, in
// which the client writes its one-way releases and the broker reads them, with no system call on either side.
//
// The broker makes the page (a sealed memfd, so that no holder can shrink it under the other's mapping) and
// hands its descriptor to the client in the reply to kReleaseRing. The client is the only writer of `written`
// and of the slots, the broker the only writer of `taken` and `doorbell`. Each side trusts nothing the other
// wrote: the broker checks that `written` claims no more releases than the ring holds (a client that writes
// garbage loses its connection, and with it only its own holds), and a payload id in a slot is a release like
// any other (one the sender does not hold is refused and logged). The client only ever reads `taken` to
// learn whether a slot is free, so a broken value there makes the ring look full, never overwrites a slot
// the broker has not read.
//
// Order, and the doorbell. A release is in the ring when Push returns: a request that any process sends
// afterwards reaches the broker through a socket, which orders it after the client's write, and the broker
// reads every ring before it answers anything that depends on the holds (Take). A client whose broker sleeps
// without looking at the rings (the idle broker: DESIGN.md §4) must wake it: the broker sets `doorbell`
// before it goes to sleep and then looks at each ring once more; the client writes the slot and `written` and
// then reads `doorbell`, and rings (kRingDoorbell on its connection) when it is set. Both sides store and
// then load with sequential consistency, so at least one of them sees the other: a release is never left
// unread by a sleeping broker.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ntbridge {

inline constexpr uint32_t kReleaseRingMagic = 0x4752524e;  // "NRRG"
inline constexpr uint32_t kReleaseRingSlots = 480;
inline constexpr size_t kReleaseRingBytes = 4096;

// The page, as both sides see it (an ABI between the client and the broker of one machine).
struct ReleaseRingPage {
  uint32_t magic;  // kReleaseRingMagic, written by the broker before it hands the page out
  uint32_t slots;  // kReleaseRingSlots, likewise
  alignas(64) std::atomic<uint64_t> written;  // the client's: releases written so far (the next goes to
                                              // slot[written % slots])
  alignas(64) std::atomic<uint64_t> taken;    // the broker's: releases read so far
  std::atomic<uint32_t> doorbell;             // the broker's: 1 while it sleeps without reading the rings
  alignas(64) std::atomic<uint64_t> slot[kReleaseRingSlots];  // payload ids
};
static_assert(sizeof(ReleaseRingPage) <= kReleaseRingBytes);
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);

class ReleaseRing {
 public:
  // The broker's side: a new ring, mapped; *client_fd gets a descriptor of it for the client (the caller
  // sends and closes it). nullptr on failure, with `error` saying which system call failed.
  static std::unique_ptr<ReleaseRing> Create(int* client_fd, std::string* error);
  // The client's side: maps the ring of `fd` (which stays the caller's). nullptr, with `error`, when `fd` is
  // not a release ring: not a sealed memfd of the page's size, or a page without the magic and slot count.
  static std::unique_ptr<ReleaseRing> Map(int fd, std::string* error);
  ~ReleaseRing();
  ReleaseRing(const ReleaseRing&) = delete;
  ReleaseRing& operator=(const ReleaseRing&) = delete;

  // Client. kFull: the broker has not read the ring for a while (it reads it before its next answer to
  // anyone, and within a second), so the release must go another way.
  enum class PushResult { kQueued, kQueuedRing /* queued; the broker sleeps: ring the doorbell */, kFull };
  PushResult Push(uint64_t payload);

  // Broker. Calls apply(payload) for each release written since the last Take, in order; `took` is set when
  // there was one. False, with `why`, when the page claims more releases than the ring holds (nothing is
  // applied then: the caller closes the connection).
  template <typename Apply>
  bool Take(Apply&& apply, bool* took, std::string* why) {
    uint64_t written = 0;
    if (!Claimed(&written, why)) return false;
    if (written == index_) return true;
    for (uint64_t i = index_; i != written; ++i)
      apply(page_->slot[i % kReleaseRingSlots].load(std::memory_order_relaxed));
    index_ = written;
    page_->taken.store(written, std::memory_order_release);
    *took = true;
    return true;
  }
  // Broker: whether it sleeps without reading the rings (then a client rings after its next release).
  void SetDoorbell(bool on);
  // Broker: nothing was ever written into it (its client could not map it, for one).
  bool Unused() const { return index_ == 0 && page_->written.load(std::memory_order_acquire) == 0; }

 private:
  explicit ReleaseRing(ReleaseRingPage* page, uint64_t index) : page_(page), index_(index) {}
  bool Claimed(uint64_t* written, std::string* why) const;

  ReleaseRingPage* page_;
  // The client's count of releases written, or the broker's of releases taken: each side's own index, kept
  // here so that nothing the other side writes into the page can change it.
  uint64_t index_;
};

}  // namespace ntbridge
