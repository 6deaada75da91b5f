// The shared payload of DESIGN.md §7: the state of a binary semaphore, a timeline semaphore or a fence, kept
// by the layer in one page of a sealed memfd so that every process of the user that holds a descriptor of it
// (its NT handle, or one the broker hands out for a KMT value or a name) sees and changes the same state.
// Waiters sleep on a futex word in the page (a shared futex: it works across processes).
//
// Nothing here knows Vulkan: these are the kernel objects and the state machine. The layer's threads that
// connect queue operations to this state live in shared_payload/ too (queue_bridge.*, host_wait.*), the rest
// of the layer sees SyncState only.
//
// The page may be written by any process of the user, including a hostile or broken one: every operation
// re-validates what it reads, never follows a value out of the page, and every wait ends by its deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace ntbridge::shared_payload {

enum class Kind : uint32_t { kBinarySemaphore = 1, kTimelineSemaphore = 2, kFence = 3 };
const char* KindName(Kind kind);  // "binary semaphore", "timeline semaphore", "fence"

enum class Status {
  kOk,         // done (for a wait: the state reached what was asked)
  kTimeout,    // the deadline passed first
  kCorrupt,    // the page does not hold a valid state (written by something else); `error` says what
  kAbandoned,  // every other process that held the payload died without letting go of it, and nothing in
               // this process can signal it (see Wait)
  kError,      // a system call failed; `error` says which and why
};

using Clock = std::chrono::steady_clock;

// A process-private futex word a waiter can be woken by, besides its payloads (the layer's threads use it to
// learn about new work while they wait).
class Doorbell {
 public:
  void Ring();  // bumps the word and wakes every waiter
  uint32_t Load() const { return word_.load(std::memory_order_acquire); }
  std::atomic<uint32_t>* word() { return &word_; }

 private:
  std::atomic<uint32_t> word_{0};
};

// Runs once a signal's new state is visible and before its sleepers (of every process) are woken, so it must
// not block nor call a driver. The layer takes this process's queue waits that the signal satisfies there
// (and releases them after the wake), so that its gate thread, woken with the other sleepers, finds them
// gone.
struct BeforeWake {
  void (*call)(void* context) = nullptr;
  void* context = nullptr;
};

class SyncState {
 public:
  // A new payload: a memfd named "ntbridge-sync" of one page, sealed against growing, shrinking and further
  // sealing, mapped shared, header written. Binary semaphores and fences: `initial_value` 0 (unsignalled) or
  // 1 (signalled); timeline semaphores: the counter's initial value. nullptr on failure (`error` says why).
  static std::shared_ptr<SyncState> Create(Kind kind, uint64_t initial_value, std::string* error);

  // Maps the payload behind `fd` (not consumed: the object keeps a close-on-exec duplicate of its own).
  // nullptr unless `fd` is a memfd of one page with exactly these seals and a valid header; `error` says
  // what it is instead ("not a memfd", "size 8192, not one page", "header magic 0x..., not a ntbridge sync
  // payload", ...).
  static std::shared_ptr<SyncState> Open(int fd, std::string* error);

  ~SyncState();  // leaves its holder slot, unmaps, closes its descriptor
  SyncState(const SyncState&) = delete;
  SyncState& operator=(const SyncState&) = delete;

  Kind kind() const { return kind_; }
  // Its own descriptor (close-on-exec). Hand out duplicates, never this one.
  int fd() const { return fd_; }
  // Identity of the payload (device and inode of the memfd): equal for every mapping of the same payload.
  uint64_t id() const { return id_; }

  // Host operations. Each re-validates the page first: kCorrupt (with `error`) when it is not a valid state
  // of this kind.
  //
  // Timeline: the counter. Binary semaphore and fence: 1 when signalled, 0 when not.
  Status Read(uint64_t* value, std::string* error) const;
  // Timeline: sets the counter to `value` (the caller has checked that it is greater than the current value;
  // a smaller one is ignored, the counter never goes back). Binary and fence: signalled (`value` ignored).
  // Wakes every waiter of every process; `before_wake` first, when the state changed (BeforeWake).
  Status Signal(uint64_t value, std::string* error, BeforeWake before_wake = {});
  // Binary semaphore and fence: unsignalled. (A timeline counter cannot be reset: kError.)
  Status Reset(std::string* error);
  // Binary semaphore: a wait operation that does not block; signalled -> unsignalled atomically. `*consumed`
  // tells whether it was signalled.
  Status TryConsume(bool* consumed, std::string* error);

  // Whether some other process holds this payload (a holder slot with a live pid other than this one), and
  // whether one held it and died without leaving its slot.
  struct Holders {
    int live_others = 0;
    int dead = 0;
  };
  Holders CountHolders() const;

 private:
  SyncState() = default;
  friend Status WaitMany(std::span<const struct WaitItem>, bool, Clock::time_point, Doorbell*, uint32_t,
                         size_t*, std::string*);
  struct Page;
  Kind kind_ = Kind::kBinarySemaphore;
  int fd_ = -1;
  uint64_t id_ = 0;
  Page* page_ = nullptr;
  int holder_slot_ = -1;
  // The process that took holder_slot_: only it leaves the slot (not a child forked with this object).
  int holder_pid_ = 0;
  // This process signalled the payload through this mapping (SignalledByThisProcess).
  std::atomic<bool> signalled_here_{false};
  // The largest timeline value this mapping has seen: a page whose counter goes back is corrupt.
  mutable std::atomic<uint64_t> highest_seen_{0};
};

// Whether this process has signalled the payload `id` (SyncState::id), through any mapping of it.
bool SignalledByThisProcess(uint64_t id);

// One payload a wait is for.
struct WaitItem {
  SyncState* state = nullptr;
  // Timeline: the counter must reach `value`. Binary and fence: signalled (`value` ignored).
  uint64_t value = 0;
  // Binary semaphore: the wait consumes the signal (a semaphore wait operation). Fences and host waits on
  // timelines: false.
  bool consume = false;
  // This process may still signal the payload (a queue signal of it is pending here): the wait is never
  // reported abandoned.
  bool local_signal_pending = false;
};

// Waits until the items are satisfied: any one (`wait_any`; `*first` = its index) or all of them, until
// `deadline` (Clock::time_point::max() for no limit; a deadline in the past polls once). With `doorbell`,
// also returns kOk with `*first` = items.size() as soon as the doorbell's word is no longer
// `doorbell_seen`. Returns kAbandoned when an unsatisfied item's payload is held by no live process but
// this one, some holder died holding it, and it has no local_signal_pending: `*first` is that item.
// kCorrupt / kError: `*first` is the item, `error` says what.
Status WaitMany(std::span<const WaitItem> items, bool wait_any, Clock::time_point deadline,
                Doorbell* doorbell, uint32_t doorbell_seen, size_t* first, std::string* error);

inline Status Wait(SyncState& state, uint64_t value, bool consume, Clock::time_point deadline,
                   std::string* error) {
  WaitItem item{&state, value, consume, false};
  size_t first = 0;
  return WaitMany({&item, 1}, true, deadline, nullptr, 0, &first, error);
}

}  // namespace ntbridge::shared_payload
