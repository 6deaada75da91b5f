#include "shared_payload/sync_state.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "shared_payload/futex.hpp"

namespace ntbridge::shared_payload {
namespace {

constexpr uint32_t kMagic = 0x5953544e;  // the bytes "NTSY" at the start of the page
constexpr uint32_t kLayoutVersion = 1;
constexpr int kHolderSlots = 32;
constexpr unsigned kExpectedSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

// How often a sleeping wait looks again without being woken: whether the page is still valid (a hostile
// writer need not wake anyone) and whether its holders are still alive.
constexpr std::chrono::milliseconds kRecheckInterval{200};

// A timeline signal that keeps losing its compare-and-swap to values below its own gives up after this many
// tries: honest signallers make progress, so only a writer that keeps changing the counter gets there.
constexpr int kMaxSignalTries = 4096;

// The page as every process sees it. Plain integers at fixed offsets (the layout is the cross-process ABI:
// change it only with kLayoutVersion), accessed only through std::atomic_ref because other processes write
// it concurrently. Everything the code reads from it is a value to check, never an offset or a size.
struct PageLayout {
  uint32_t magic;
  uint32_t layout_version;
  uint32_t kind;
  uint32_t check;  // CheckWord(magic, layout_version, kind)
  // The futex word: bumped on every change of `value`, so that a waiter that read it before checking the
  // value cannot sleep through a signal that came after the check.
  uint32_t seq;
  // Waiters that may sleep on `seq` (in any process): Signal makes the wake system call only when nonzero.
  uint32_t waiters;
  alignas(8) uint64_t value;  // timeline: the counter; binary semaphore and fence: 0 or 1
  // The processes that hold a mapping (pid, 0 = free): CountHolders tells a dead holder from a live one.
  int32_t holders[kHolderSlots];
};
static_assert(std::is_standard_layout_v<PageLayout> && std::is_trivially_copyable_v<PageLayout>);
static_assert(sizeof(PageLayout) <= 4096, "the payload is one page");
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free &&
                  std::atomic_ref<uint64_t>::is_always_lock_free &&
                  std::atomic_ref<int32_t>::is_always_lock_free,
              "atomics in memory shared between processes must be lock-free (address-free)");
static_assert(alignof(uint64_t) >= std::atomic_ref<uint64_t>::required_alignment &&
              offsetof(PageLayout, value) % std::atomic_ref<uint64_t>::required_alignment == 0);
// The doorbell's word is handed to the futex calls as a plain 32-bit word.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
              std::atomic<uint32_t>::is_always_lock_free);

template <typename T>
std::atomic_ref<T> At(T& word) {
  return std::atomic_ref<T>(word);
}

// Ties the three header words together, so that a page that happens to start with the magic (or a stale page
// of an older layout) is not taken for a valid header.
uint32_t CheckWord(uint32_t magic, uint32_t version, uint32_t kind) {
  uint32_t h = magic * 0x9e3779b1u ^ version;
  h = (h ^ (h >> 15)) * 0x85ebca77u ^ kind;
  h = (h ^ (h >> 13)) * 0xc2b2ae3du;
  return h ^ (h >> 16);
}

bool ValidKind(uint32_t kind) {
  return kind == static_cast<uint32_t>(Kind::kBinarySemaphore) ||
         kind == static_cast<uint32_t>(Kind::kTimelineSemaphore) ||
         kind == static_cast<uint32_t>(Kind::kFence);
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Errno(const char* call, int err) { return std::string(call) + " failed: " + std::strerror(err); }

Status Fail(Status status, std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return status;
}

std::shared_ptr<SyncState> Refuse(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return nullptr;
}

std::string SealNames(unsigned seals) {
  static constexpr std::pair<unsigned, const char*> kNames[] = {
      {F_SEAL_SEAL, "F_SEAL_SEAL"},
      {F_SEAL_SHRINK, "F_SEAL_SHRINK"},
      {F_SEAL_GROW, "F_SEAL_GROW"},
      {F_SEAL_WRITE, "F_SEAL_WRITE"},
#ifdef F_SEAL_FUTURE_WRITE
      {F_SEAL_FUTURE_WRITE, "F_SEAL_FUTURE_WRITE"},
#endif
  };
  std::string s;
  for (auto [bit, name] : kNames) {
    if (!(seals & bit)) continue;
    if (!s.empty()) s.push_back('|');
    s.append(name);  // one append each: GCC 12 at -O3 warns (-Wrestrict) on the '+=' pair
    seals &= ~bit;
  }
  if (seals) {
    if (!s.empty()) s.push_back('|');
    s.append(Hex(seals));
  }
  return s.empty() ? "none" : s;
}

const char* FileType(mode_t mode) {
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISREG(mode)) return "a file";
  return "not a regular file";
}

size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// Whether `pid` still runs. A pidfd tells an exited process that is not yet reaped (a zombie, which kill(0)
// still finds) from a live one; without pidfd_open, kill(pid, 0) is the best there is.
bool ProcessDead(pid_t pid) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int r = poll(&p, 1, 0);
    close(pidfd);
    return r > 0;  // readable: the process has exited
  }
  if (errno == ESRCH) return true;
  // ENOSYS, EINVAL (a thread's id), EMFILE...: EPERM from kill means it exists under another user.
  return kill(pid, 0) != 0 && errno == ESRCH;
}

// Everything an operation needs of one mapping; SyncState's members and WaitMany (its friend) make one.
class PageView {
 public:
  PageView(PageLayout* page, Kind kind, uint64_t id, std::atomic<uint64_t>* highest_seen)
      : page_(page), kind_(kind), id_(id), highest_seen_(highest_seen) {}

  // "the timeline semaphore payload 0x1a2b…": how every message names the payload.
  std::string Name() const { return std::string("the ") + KindName(kind_) + " payload " + Hex(id_); }

  bool CheckHeader(std::string* error) const {
    uint32_t magic = At(page_->magic).load(std::memory_order_relaxed);
    uint32_t version = At(page_->layout_version).load(std::memory_order_relaxed);
    uint32_t kind = At(page_->kind).load(std::memory_order_relaxed);
    uint32_t check = At(page_->check).load(std::memory_order_relaxed);
    std::string why;
    if (magic != kMagic) {
      why = "header magic " + Hex(magic) + " is not " + Hex(kMagic);
    } else if (version != kLayoutVersion) {
      why = "layout version " + std::to_string(version) + ", not " + std::to_string(kLayoutVersion);
    } else if (kind != static_cast<uint32_t>(kind_)) {
      why = "kind " + std::to_string(kind) + ", not " + std::to_string(static_cast<uint32_t>(kind_));
    } else if (check != CheckWord(magic, version, kind)) {
      why = "check word " + Hex(check) + " does not match its header (" +
            Hex(CheckWord(magic, version, kind)) + ")";
    } else {
      return true;
    }
    Fail(Status::kCorrupt, error,
         Name() + " is corrupt: " + why + "; something other than ntbridge wrote its page");
    return false;
  }

  // Remembers that the counter reached `v`, so that a later read of a smaller one is known to be corrupt.
  void NoteSeen(uint64_t v) {
    uint64_t h = highest_seen_->load(std::memory_order_relaxed);
    while (h < v && !highest_seen_->compare_exchange_weak(h, v, std::memory_order_release)) {
    }
  }

  Status ValueCorrupt(uint64_t v, uint64_t highest, std::string* error) const {
    std::string why =
        kind_ == Kind::kTimelineSemaphore
            ? "its counter " + std::to_string(v) + " went back below " + std::to_string(highest) +
                  ", the highest this process saw"
            : "its value " + std::to_string(v) + " is neither 0 (unsignalled) nor 1 (signalled)";
    return Fail(Status::kCorrupt, error,
                Name() + " is corrupt: " + why + "; something other than ntbridge wrote its page");
  }

  // Validates the header and the value and returns the value.
  Status Load(uint64_t* value, std::string* error) {
    if (!CheckHeader(error)) return Status::kCorrupt;
    // The highest value seen is read before the page: every value it holds was in the page earlier, so an
    // honest page read afterwards can only be at least that (reading the other way round, another thread's
    // newer read could make this older one look like a counter going back).
    uint64_t highest = highest_seen_->load(std::memory_order_acquire);
    uint64_t v = At(page_->value).load();
    if (kind_ == Kind::kTimelineSemaphore) {
      if (v < highest) return ValueCorrupt(v, highest, error);
      NoteSeen(v);
    } else if (v > 1) {
      return ValueCorrupt(v, highest, error);
    }
    *value = v;
    return Status::kOk;
  }

  Status Signal(uint64_t value, std::string* error, BeforeWake before_wake = {}) {
    if (!CheckHeader(error)) return Status::kCorrupt;
    if (kind_ == Kind::kTimelineSemaphore) {
      uint64_t highest = highest_seen_->load(std::memory_order_acquire);
      uint64_t cur = At(page_->value).load();
      for (int tries = 0;; ++tries) {
        if (cur < highest) return ValueCorrupt(cur, highest, error);
        if (value <= cur) {  // the counter never goes back: nothing changes, nobody to wake
          NoteSeen(cur);
          return Status::kOk;
        }
        if (At(page_->value).compare_exchange_strong(cur, value)) break;
        if (tries == kMaxSignalTries) {
          return Fail(Status::kCorrupt, error,
                      Name() + " is corrupt: its counter changed " + std::to_string(tries) +
                          " times during one signal; something other than ntbridge writes its page");
        }
      }
      NoteSeen(value);
    } else {
      uint64_t old = At(page_->value).exchange(1);
      if (old > 1) return ValueCorrupt(old, 0, error);
      if (old == 1) return Status::kOk;  // already signalled: no waiter can be waiting for this
    }
    // Order (all seq_cst): value, then seq, then the waiter count. A waiter registers, reads seq, then reads
    // the value; if it missed the value it registered before this load sees the count, and its seq is stale.
    At(page_->seq).fetch_add(1);
    if (before_wake.call != nullptr) before_wake.call(before_wake.context);
    if (At(page_->waiters).load() != 0) futex::Wake(&page_->seq, false);
    return Status::kOk;
  }

  Status Reset(std::string* error) {
    if (!CheckHeader(error)) return Status::kCorrupt;
    if (kind_ == Kind::kTimelineSemaphore) {
      return Fail(Status::kError, error, Name() + ": a timeline semaphore cannot be reset");
    }
    uint64_t old = At(page_->value).exchange(0);
    if (old > 1) return ValueCorrupt(old, 0, error);
    // A change, so the word moves, but nobody waits for "unsignalled": no wake.
    if (old == 1) At(page_->seq).fetch_add(1);
    return Status::kOk;
  }

  Status TryConsume(bool* consumed, std::string* error) {
    *consumed = false;
    if (!CheckHeader(error)) return Status::kCorrupt;
    if (kind_ != Kind::kBinarySemaphore) {
      return Fail(Status::kError, error, Name() + ": only a binary semaphore's signal can be consumed");
    }
    uint64_t expected = 1;
    if (At(page_->value).compare_exchange_strong(expected, 0)) {
      *consumed = true;
      At(page_->seq).fetch_add(1);
      return Status::kOk;
    }
    if (expected > 1) return ValueCorrupt(expected, 0, error);
    return Status::kOk;
  }

  SyncState::Holders Holders(pid_t* dead_pid) const {
    SyncState::Holders h;
    pid_t self = getpid();
    for (int32_t& slot : page_->holders) {
      pid_t pid = At(slot).load(std::memory_order_relaxed);
      // Free slots, this process, and values no process can have (written by something else) are skipped.
      if (pid <= 0 || pid == self) continue;
      if (ProcessDead(pid)) {
        if (h.dead++ == 0 && dead_pid) *dead_pid = pid;
      } else {
        ++h.live_others;
      }
    }
    return h;
  }

  // Frees the slots of holders that died.
  void ForgetDeadHolders() const {
    pid_t self = getpid();
    for (int32_t& slot : page_->holders) {
      int32_t pid = At(slot).load(std::memory_order_relaxed);
      if (pid > 0 && pid != self && ProcessDead(pid)) At(slot).compare_exchange_strong(pid, 0);
    }
  }

  // A free slot, else (all 32 taken) the slot of a holder that died: -1 when every slot is a live process.
  int TakeHolderSlot() {
    pid_t self = getpid();
    for (int i = 0; i < kHolderSlots; ++i) {
      int32_t expected = 0;
      if (At(page_->holders[i]).compare_exchange_strong(expected, self)) return i;
    }
    for (int i = 0; i < kHolderSlots; ++i) {
      int32_t pid = At(page_->holders[i]).load(std::memory_order_relaxed);
      if (pid > 0 && pid != self && ProcessDead(pid) &&
          At(page_->holders[i]).compare_exchange_strong(pid, self)) {
        return i;
      }
    }
    return -1;
  }

  void AddWaiter(uint32_t delta) { At(page_->waiters).fetch_add(delta); }
  void RemoveWaiter() { At(page_->waiters).fetch_sub(1); }
  const uint32_t* seq_word() const { return &page_->seq; }
  uint32_t LoadSeq() const { return At(page_->seq).load(); }
  PageLayout* page() const { return page_; }
  Kind kind() const { return kind_; }

 private:
  PageLayout* page_;
  Kind kind_;
  uint64_t id_;
  std::atomic<uint64_t>* highest_seen_;
};

}  // namespace

// A member of SyncState, so it may read SyncState's private state for the places that need a view: the
// members and WaitMany (a friend).
struct SyncState::Page : PageLayout {
  static PageView View(const SyncState& s) { return PageView(s.page_, s.kind_, s.id_, &s.highest_seen_); }
};

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kBinarySemaphore:
      return "binary semaphore";
    case Kind::kTimelineSemaphore:
      return "timeline semaphore";
    case Kind::kFence:
      return "fence";
  }
  return "unknown kind of sync payload";
}

void Doorbell::Ring() {
  word_.fetch_add(1, std::memory_order_release);
  futex::Wake(reinterpret_cast<const uint32_t*>(&word_), true);
}

std::shared_ptr<SyncState> SyncState::Create(Kind kind, uint64_t initial_value, std::string* error) {
  if (!ValidKind(static_cast<uint32_t>(kind))) {
    return Refuse(error, "sync payload kind " + std::to_string(static_cast<uint32_t>(kind)) + " is unknown");
  }
  if (kind != Kind::kTimelineSemaphore && initial_value > 1) {
    return Refuse(error, std::string("initial value ") + std::to_string(initial_value) + " of a " +
                             KindName(kind) + ": must be 0 (unsignalled) or 1 (signalled)");
  }
  std::shared_ptr<SyncState> s(new SyncState());
  s->kind_ = kind;
  s->fd_ = memfd_create("ntbridge-sync", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (s->fd_ < 0) return Refuse(error, Errno("memfd_create", errno));
  if (ftruncate(s->fd_, static_cast<off_t>(PageSize())) != 0) return Refuse(error, Errno("ftruncate", errno));
  // Sealed so that no holder can shrink it under another's mapping (a SIGBUS there) or grow it.
  if (fcntl(s->fd_, F_ADD_SEALS, kExpectedSeals) != 0)
    return Refuse(error, Errno("fcntl(F_ADD_SEALS)", errno));
  struct stat st {};
  if (fstat(s->fd_, &st) != 0) return Refuse(error, Errno("fstat", errno));
  s->id_ = static_cast<uint64_t>(st.st_ino) ^ (static_cast<uint64_t>(st.st_dev) * 0x9e3779b97f4a7c15ull);
  void* map = mmap(nullptr, PageSize(), PROT_READ | PROT_WRITE, MAP_SHARED, s->fd_, 0);
  if (map == MAP_FAILED) return Refuse(error, Errno("mmap", errno));
  s->page_ = static_cast<Page*>(map);
  // Nobody else has the descriptor yet: plain writes would do, atomics keep every access to the page alike.
  PageLayout* p = s->page_;
  At(p->value).store(initial_value);
  At(p->magic).store(kMagic);
  At(p->layout_version).store(kLayoutVersion);
  At(p->kind).store(static_cast<uint32_t>(kind));
  At(p->check).store(CheckWord(kMagic, kLayoutVersion, static_cast<uint32_t>(kind)));
  s->highest_seen_.store(kind == Kind::kTimelineSemaphore ? initial_value : 0);
  s->holder_slot_ = Page::View(*s).TakeHolderSlot();
  s->holder_pid_ = getpid();
  return s;
}

std::shared_ptr<SyncState> SyncState::Open(int fd, std::string* error) {
  std::string what = "descriptor " + std::to_string(fd);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    return Refuse(error, what + (errno == EBADF ? " is not open" : ": " + Errno("fstat", errno)));
  }
  if (!S_ISREG(st.st_mode))
    return Refuse(error, what + " is not a memfd (it is " + FileType(st.st_mode) + ")");
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    return Refuse(error, what + " is not a memfd (" + Errno("fcntl(F_GET_SEALS)", errno) +
                             "): not a ntbridge sync payload");
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return Refuse(error, what + ": " + Errno("fcntl(F_GETFL)", errno));
  if ((flags & O_ACCMODE) != O_RDWR) {
    return Refuse(error, what + " is open read-only or write-only; a sync payload needs O_RDWR");
  }
  if (static_cast<unsigned>(seals) != kExpectedSeals) {
    return Refuse(error, what + " has seals " + SealNames(static_cast<unsigned>(seals)) + ", not exactly " +
                             SealNames(kExpectedSeals) + ": not a ntbridge sync payload");
  }
  if (st.st_size != static_cast<off_t>(PageSize())) {
    return Refuse(error, what + " has size " + std::to_string(st.st_size) + ", not one page (" +
                             std::to_string(PageSize()) + "): not a ntbridge sync payload");
  }
  std::shared_ptr<SyncState> s(new SyncState());
  s->fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (s->fd_ < 0) return Refuse(error, what + ": " + Errno("fcntl(F_DUPFD_CLOEXEC)", errno));
  s->id_ = static_cast<uint64_t>(st.st_ino) ^ (static_cast<uint64_t>(st.st_dev) * 0x9e3779b97f4a7c15ull);
  void* map = mmap(nullptr, PageSize(), PROT_READ | PROT_WRITE, MAP_SHARED, s->fd_, 0);
  if (map == MAP_FAILED) return Refuse(error, what + ": " + Errno("mmap", errno));
  s->page_ = static_cast<Page*>(map);
  // The kind comes from the page; every later operation checks the page against it.
  uint32_t kind = At(s->page_->kind).load(std::memory_order_relaxed);
  uint32_t magic = At(s->page_->magic).load(std::memory_order_relaxed);
  if (magic != kMagic) {
    return Refuse(
        error, what + ": header magic " + Hex(magic) + ", not a ntbridge sync payload (" + Hex(kMagic) + ")");
  }
  if (!ValidKind(kind)) {
    return Refuse(error,
                  what + ": kind " + std::to_string(kind) +
                      " in its header is none of binary semaphore (1), timeline semaphore (2), fence (3)");
  }
  s->kind_ = static_cast<Kind>(kind);
  std::string why;
  uint64_t value = 0;
  PageView view = Page::View(*s);
  if (view.Load(&value, &why) != Status::kOk) return Refuse(error, what + ": " + why);
  s->holder_slot_ = view.TakeHolderSlot();
  s->holder_pid_ = getpid();
  return s;
}

SyncState::~SyncState() {
  // Only the process that took the slot leaves it: a child forked with this object must not free its
  // parent's slot.
  if (page_ && holder_slot_ >= 0 && holder_pid_ == getpid()) {
    int32_t expected = holder_pid_;
    At(page_->holders[holder_slot_]).compare_exchange_strong(expected, 0);
  }
  if (page_) munmap(page_, PageSize());
  if (fd_ >= 0) close(fd_);
}

Status SyncState::Read(uint64_t* value, std::string* error) const {
  uint64_t v = 0;
  Status s = Page::View(*this).Load(&v, error);
  if (s == Status::kOk && value) *value = v;
  return s;
}

namespace {
// Payloads this process has signalled (host or queue): while it may do so again, a wait on them is never
// declared abandoned because of a dead peer (a consumer that died does not end the producer's own waits).
std::mutex g_signalled_mutex;
std::unordered_set<uint64_t> g_signalled;  // guarded by g_signalled_mutex
}  // namespace

bool SignalledByThisProcess(uint64_t id) {
  std::lock_guard lock(g_signalled_mutex);
  return g_signalled.count(id) != 0;
}

Status SyncState::Signal(uint64_t value, std::string* error, BeforeWake before_wake) {
  if (!signalled_here_.exchange(true, std::memory_order_relaxed)) {
    std::lock_guard lock(g_signalled_mutex);
    g_signalled.insert(id_);
  }
  return Page::View(*this).Signal(value, error, before_wake);
}

Status SyncState::Reset(std::string* error) { return Page::View(*this).Reset(error); }

Status SyncState::TryConsume(bool* consumed, std::string* error) {
  bool c = false;
  Status s = Page::View(*this).TryConsume(&c, error);
  if (consumed) *consumed = c;
  return s;
}

SyncState::Holders SyncState::CountHolders() const { return Page::View(*this).Holders(nullptr); }

namespace {

struct Target {
  PageView view;
  const WaitItem* item;
  bool done = false;
};

// Whether the target's state reached what its item asks; a consuming wait takes the signal here.
Status Satisfied(Target& t, bool* satisfied, std::string* error) {
  *satisfied = false;
  uint64_t v = 0;
  Status s = t.view.Load(&v, error);
  if (s != Status::kOk) return s;
  if (t.view.kind() == Kind::kTimelineSemaphore) {
    *satisfied = v >= t.item->value;
  } else if (v == 1) {
    if (!t.item->consume) {
      *satisfied = true;
    } else {
      s = t.view.TryConsume(satisfied, error);  // false: another waiter took it first
    }
  }
  return s;
}

// Registers this waiter on the pages it sleeps on for as long as it may sleep, and leaves them however the
// wait ends.
class Registration {
 public:
  ~Registration() { Clear(); }
  void Add(PageView& view) {
    view.AddWaiter(1);
    views_.push_back(&view);
  }
  void Clear() {
    for (PageView* v : views_) v->RemoveWaiter();
    views_.clear();
  }

 private:
  std::vector<PageView*> views_;
};

}  // namespace

// Notes on the semantics the header leaves open:
// - An `all` wait counts an item as satisfied once it was seen satisfied, even if it is reset afterwards, and
//   a consuming item takes its signal as soon as it is seen signalled: a binary semaphore consumed by an
//   `all` wait that then times out (or is ended by its doorbell) has lost that signal. The layer's queue
//   waits are per semaphore; `all` with consume is only for callers that accept this.
// - `*first` after an `all` wait that succeeded is 0.
// - With no items, only the doorbell or the deadline ends the wait (a wait for "new work" of the layer's
//   threads).
Status WaitMany(std::span<const WaitItem> items, bool wait_any, Clock::time_point deadline,
                Doorbell* doorbell, uint32_t doorbell_seen, size_t* first, std::string* error) {
  size_t first_scratch = 0;
  if (!first) first = &first_scratch;
  *first = 0;
  std::vector<Target> targets;
  targets.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const WaitItem& item = items[i];
    *first = i;
    if (!item.state) return Fail(Status::kError, error, "wait item " + std::to_string(i) + " has no payload");
    if (item.consume && item.state->kind_ != Kind::kBinarySemaphore) {
      return Fail(Status::kError, error,
                  std::string("wait item ") + std::to_string(i) + ": a " + KindName(item.state->kind_) +
                      " wait cannot consume; only binary semaphore waits do");
    }
    targets.push_back(Target{SyncState::Page::View(*item.state), &item});
  }
  *first = 0;

  size_t pending = targets.size();
  // One pass over the items not yet satisfied: kOk with `finished` when the wait is over.
  auto check = [&](bool* finished) {
    *finished = false;
    for (size_t i = 0; i < targets.size(); ++i) {
      Target& t = targets[i];
      if (t.done) continue;
      bool satisfied = false;
      Status s = Satisfied(t, &satisfied, error);
      if (s != Status::kOk) {
        *first = i;
        return s;
      }
      if (!satisfied) continue;
      t.done = true;
      --pending;
      if (wait_any) {
        *first = i;
        *finished = true;
        return Status::kOk;
      }
    }
    if (!wait_any && pending == 0 && !targets.empty()) {
      *first = 0;
      *finished = true;
    } else if (doorbell && doorbell->Load() != doorbell_seen) {
      *first = items.size();
      *finished = true;
    }
    return Status::kOk;
  };
  auto check_abandoned = [&]() {
    for (size_t i = 0; i < targets.size(); ++i) {
      Target& t = targets[i];
      if (t.done || t.item->local_signal_pending || SignalledByThisProcess(t.item->state->id())) continue;
      pid_t dead = 0;
      SyncState::Holders h = t.view.Holders(&dead);
      if (h.live_others == 0 && h.dead > 0) {
        *first = i;
        // Reported once: the dead holders' slots are freed, so later waits on the payload are plain waits.
        t.view.ForgetDeadHolders();
        return Fail(Status::kAbandoned, error,
                    t.view.Name() + " is abandoned: no other process holds it any more, process " +
                        std::to_string(dead) +
                        " died without letting go of it, and nothing in this process can signal it");
      }
    }
    return Status::kOk;
  };

  // Already satisfied (the common case) or a poll: no registration, no system call.
  bool finished = false;
  Status s = check(&finished);
  if (s != Status::kOk || finished) return s;
  Clock::time_point now = Clock::now();
  if (now >= deadline) return Status::kTimeout;
  // Holders are looked at after the first ~200 ms asleep, not before: a wait that sleeps briefly (the common
  // case) makes no system call per holder (measured: it doubled the wake-up latency of infinite waits).
  Clock::time_point next_recheck = now + kRecheckInterval;

  Registration registration;
  std::vector<futex::Word> words;
  for (;;) {
    // Register, read each sequence word, then check the values: a signal after the check moves the word (so
    // the futex does not sleep) and sees the registration (so it wakes). Pages shared by several items are
    // registered and slept on once.
    registration.Clear();
    words.clear();
    for (Target& t : targets) {
      if (t.done) continue;
      const uint32_t* word = t.view.seq_word();
      if (std::any_of(words.begin(), words.end(), [&](const futex::Word& w) { return w.address == word; })) {
        continue;
      }
      registration.Add(t.view);
      words.push_back(futex::Word{word, t.view.LoadSeq(), false});
    }
    if (doorbell)
      words.push_back(futex::Word{reinterpret_cast<const uint32_t*>(doorbell->word()), doorbell_seen, true});
    s = check(&finished);
    if (s != Status::kOk || finished) return s;
    now = Clock::now();
    if (now >= deadline) return Status::kTimeout;
    if (now >= next_recheck) {
      s = check_abandoned();
      if (s != Status::kOk) return s;
      next_recheck = now + kRecheckInterval;
    }
    // Never sleeps past the next recheck: a corrupt page or a dead holder wakes nobody.
    if (!futex::Sleep(words, std::min(deadline, next_recheck), error)) {
      *first = 0;
      return Status::kError;
    }
  }
}

}  // namespace ntbridge::shared_payload
