// The shared payload (src/layer/shared_payload/sync_state.*) in one process: creating and opening, each
// kind's operations, waits (deadlines, any/all, doorbell, consuming), many threads at once, and pages written
// by something else.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "page_access.hpp"
#include "shared_payload/futex.hpp"
#include "shared_payload/sync_state.hpp"

namespace ntbridge::test {
namespace {

using namespace shared_payload;
constexpr unsigned kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

std::shared_ptr<SyncState> Make(Kind kind, uint64_t value) {
  std::string error;
  auto s = SyncState::Create(kind, value, &error);
  EXPECT_NE(s, nullptr) << error;
  return s;
}

uint64_t ValueOf(const SyncState& s) {
  uint64_t v = ~0ull;
  std::string error;
  EXPECT_EQ(s.Read(&v, &error), Status::kOk) << error;
  return v;
}

// Open's error for `fd` ("" when it opened).
std::string OpenError(int fd) {
  std::string error;
  auto s = SyncState::Open(fd, &error);
  if (s) return "";
  EXPECT_FALSE(error.empty());
  return error;
}

// A payload-like memfd whose page starts with the first `copy` bytes of a real payload's page of `kind`.
int CopyOfPayload(Kind kind, uint64_t value) {
  auto s = Make(kind, value);
  int fd = MakeMemfd(static_cast<size_t>(sysconf(_SC_PAGESIZE)), kSeals);
  RawPage from(s->fd()), to(fd);
  std::memcpy(to.bytes(), from.bytes(), RawPage::kHolders);
  return fd;
}

// A pid that no process has: a child that has exited and been reaped.
pid_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

// ---- Create and Open ----

TEST(SyncStateCreate, EachKindIsASealedPageWithItsInitialValue) {
  for (auto [kind, value] : {std::pair{Kind::kBinarySemaphore, 1ull},
                             std::pair{Kind::kTimelineSemaphore, 42ull}, std::pair{Kind::kFence, 0ull}}) {
    auto s = Make(kind, value);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->kind(), kind);
    EXPECT_EQ(ValueOf(*s), value);
    EXPECT_NE(fcntl(s->fd(), F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(fcntl(s->fd(), F_GET_SEALS), static_cast<int>(kSeals));
    struct stat st {};
    ASSERT_EQ(fstat(s->fd(), &st), 0);
    EXPECT_EQ(st.st_size, sysconf(_SC_PAGESIZE));
    EXPECT_NE(s->id(), 0u);
  }
  EXPECT_STREQ(KindName(Kind::kTimelineSemaphore), "timeline semaphore");
}

TEST(SyncStateCreate, RefusesBinaryInitialValuesOtherThanZeroOrOne) {
  std::string error;
  EXPECT_EQ(SyncState::Create(Kind::kBinarySemaphore, 2, &error), nullptr);
  EXPECT_NE(error.find("must be 0 (unsignalled) or 1 (signalled)"), std::string::npos) << error;
  EXPECT_EQ(SyncState::Create(static_cast<Kind>(9), 0, &error), nullptr);
  EXPECT_NE(error.find("kind 9"), std::string::npos) << error;
}

TEST(SyncStateOpen, SharesTheStateAndKeepsItsOwnDescriptor) {
  auto a = Make(Kind::kTimelineSemaphore, 3);
  std::string error;
  auto b = SyncState::Open(a->fd(), &error);
  ASSERT_NE(b, nullptr) << error;
  EXPECT_EQ(b->kind(), Kind::kTimelineSemaphore);
  EXPECT_EQ(b->id(), a->id());
  EXPECT_NE(b->fd(), a->fd());
  EXPECT_NE(fcntl(b->fd(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(a->Signal(10, &error), Status::kOk);
  EXPECT_EQ(ValueOf(*b), 10u);
  int fd_a = a->fd();
  b.reset();
  EXPECT_GE(fcntl(fd_a, F_GETFD), 0) << "the descriptor Open was given is not consumed";
  EXPECT_NE(Make(Kind::kFence, 0)->id(), a->id());
}

TEST(SyncStateOpen, RefusesWhatIsNotAPayloadAndSaysWhat) {
  EXPECT_NE(OpenError(-1).find("not open"), std::string::npos);

  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  std::string e = OpenError(pipe_fds[0]);
  EXPECT_NE(e.find("not a memfd (it is a pipe)"), std::string::npos) << e;
  close(pipe_fds[0]);
  close(pipe_fds[1]);

  int sock[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sock), 0);
  e = OpenError(sock[0]);
  EXPECT_NE(e.find("not a memfd (it is a socket)"), std::string::npos) << e;
  close(sock[0]);
  close(sock[1]);

  // A file that is not shared memory cannot carry seals; a shmem file that is not a sealable memfd carries
  // exactly F_SEAL_SEAL.
  int file = open(".", O_TMPFILE | O_RDWR, 0600);
  if (file >= 0) {
    e = OpenError(file);
    EXPECT_TRUE(e.find("not a memfd") != std::string::npos ||
                e.find("seals F_SEAL_SEAL,") != std::string::npos)
        << e;
    close(file);
  }

  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  int fd = MakeMemfd(page, 0, /*allow_sealing=*/false);
  e = OpenError(fd);
  EXPECT_NE(e.find("has seals F_SEAL_SEAL, not exactly F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW"),
            std::string::npos)
      << e;
  close(fd);

  fd = MakeMemfd(page, 0);
  e = OpenError(fd);
  EXPECT_NE(e.find("has seals none"), std::string::npos) << e;
  close(fd);

  fd = MakeMemfd(page, kSeals | F_SEAL_WRITE);
  e = OpenError(fd);
  EXPECT_NE(e.find("F_SEAL_WRITE"), std::string::npos) << e;
  close(fd);

  fd = MakeMemfd(2 * page, kSeals);
  e = OpenError(fd);
  EXPECT_NE(e.find("has size " + std::to_string(2 * page) + ", not one page"), std::string::npos) << e;
  close(fd);

  auto s = Make(Kind::kFence, 0);
  int read_only = open(("/proc/self/fd/" + std::to_string(s->fd())).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(read_only, 0);
  e = OpenError(read_only);
  EXPECT_NE(e.find("read-only"), std::string::npos) << e;
  close(read_only);
}

TEST(SyncStateOpen, RefusesAGarbageHeaderAndSaysWhatIsWrong) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  int fd = MakeMemfd(page, kSeals);  // right size and seals, zero page
  std::string e = OpenError(fd);
  EXPECT_NE(e.find("header magic 0x0, not a ntbridge sync payload"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kBinarySemaphore, 0);
  {
    RawPage p(fd);
    p.U32(RawPage::kVersion).store(2);
  }
  e = OpenError(fd);
  EXPECT_NE(e.find("layout version 2, not 1"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kBinarySemaphore, 0);
  {
    RawPage p(fd);
    p.U32(RawPage::kKind).store(9);
  }
  e = OpenError(fd);
  EXPECT_NE(e.find("kind 9 in its header is none of"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kBinarySemaphore, 0);
  {
    RawPage p(fd);
    p.U32(RawPage::kKind)
        .store(static_cast<uint32_t>(Kind::kFence));  // a valid kind, but not the checked one
  }
  e = OpenError(fd);
  EXPECT_NE(e.find("check word"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kFence, 0);
  {
    RawPage p(fd);
    p.U64(RawPage::kValue).store(5);
  }
  e = OpenError(fd);
  EXPECT_NE(e.find("its value 5 is neither 0 (unsignalled) nor 1 (signalled)"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kTimelineSemaphore, 1ull << 40);  // any counter is a valid timeline
  std::string error;
  auto s = SyncState::Open(fd, &error);
  ASSERT_NE(s, nullptr) << error;
  EXPECT_EQ(ValueOf(*s), 1ull << 40);
  close(fd);
}

// ---- Each kind's operations ----

TEST(SyncStateOps, BinarySemaphore) {
  auto s = Make(Kind::kBinarySemaphore, 0);
  std::string error;
  bool consumed = true;
  EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kOk);
  EXPECT_FALSE(consumed);
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);  // the value is ignored
  EXPECT_EQ(ValueOf(*s), 1u);
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 1u);
  EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kOk);
  EXPECT_TRUE(consumed);
  EXPECT_EQ(ValueOf(*s), 0u);
  EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kOk);
  EXPECT_FALSE(consumed);
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);
  EXPECT_EQ(s->Reset(&error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 0u);
  // A consuming wait takes the signal, a plain one leaves it.
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);
  EXPECT_EQ(Wait(*s, 0, false, Clock::time_point::min(), &error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 1u);
  EXPECT_EQ(Wait(*s, 0, true, Clock::time_point::min(), &error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 0u);
  EXPECT_EQ(Wait(*s, 0, true, Clock::time_point::min(), &error), Status::kTimeout);
}

TEST(SyncStateOps, Fence) {
  auto s = Make(Kind::kFence, 0);
  std::string error;
  EXPECT_EQ(Wait(*s, 0, false, Clock::time_point::min(), &error), Status::kTimeout);
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);
  EXPECT_EQ(Wait(*s, 0, false, Clock::time_point::min(), &error), Status::kOk);
  EXPECT_EQ(Wait(*s, 0, false, Clock::time_point::min(), &error), Status::kOk);  // fences stay signalled
  bool consumed = false;
  EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kError);
  EXPECT_NE(error.find("only a binary semaphore"), std::string::npos) << error;
  EXPECT_EQ(Wait(*s, 0, true, Clock::time_point::min(), &error), Status::kError);
  EXPECT_EQ(s->Reset(&error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 0u);
  EXPECT_EQ(s->Reset(&error), Status::kOk);
}

TEST(SyncStateOps, TimelineNeverGoesBack) {
  auto s = Make(Kind::kTimelineSemaphore, 2);
  std::string error;
  EXPECT_EQ(s->Signal(5, &error), Status::kOk);
  EXPECT_EQ(s->Signal(3, &error), Status::kOk);  // ignored
  EXPECT_EQ(ValueOf(*s), 5u);
  EXPECT_EQ(s->Reset(&error), Status::kError);
  EXPECT_NE(error.find("cannot be reset"), std::string::npos) << error;
  EXPECT_EQ(Wait(*s, 5, false, Clock::time_point::min(), &error), Status::kOk);
  EXPECT_EQ(Wait(*s, 4, false, Clock::time_point::min(), &error), Status::kOk);
  auto t0 = Clock::now();
  EXPECT_EQ(Wait(*s, 6, false, Clock::time_point::min(), &error), Status::kTimeout);
  EXPECT_EQ(Wait(*s, 6, false, Clock::now() - Ms(5), &error), Status::kTimeout);
  EXPECT_LT(MsSince(t0), 50) << "a deadline in the past polls once";
  EXPECT_EQ(s->Signal(UINT64_MAX, &error), Status::kOk);
  EXPECT_EQ(Wait(*s, UINT64_MAX, false, Clock::time_point::min(), &error), Status::kOk);
}

// ---- Waits ----

TEST(SyncStateWait, DeadlinesAreHonoured) {
  auto bin = Make(Kind::kBinarySemaphore, 0);
  auto tl = Make(Kind::kTimelineSemaphore, 0);
  auto fence = Make(Kind::kFence, 0);
  Doorbell bell;
  std::string error;
  auto check = [&](std::span<const WaitItem> items, bool any, Doorbell* d, const char* what) {
    size_t first = 0;
    auto t0 = Clock::now();
    EXPECT_EQ(WaitMany(items, any, t0 + Ms(50), d, d ? d->Load() : 0, &first, &error), Status::kTimeout)
        << what;
    int64_t ms = MsSince(t0);
    EXPECT_GE(ms, 50) << what;
    EXPECT_LE(ms, 500) << what;
  };
  WaitItem one[] = {{bin.get(), 0, true, false}};
  WaitItem three[] = {
      {bin.get(), 0, true, false}, {tl.get(), 1, false, false}, {fence.get(), 0, false, false}};
  check(one, true, nullptr, "one futex word");
  check(three, true, nullptr, "futex_waitv, any");
  check(three, false, nullptr, "futex_waitv, all");
  check(three, true, &bell, "with a doorbell");
  check({}, true, &bell, "the doorbell alone");
  futex::waitv_unavailable = true;
  check(three, true, &bell, "the fallback without futex_waitv");
  futex::waitv_unavailable = false;
}

TEST(SyncStateWait, SignalFromAnotherThreadWakesIt) {
  auto s = Make(Kind::kTimelineSemaphore, 0);
  std::string error;
  std::thread signaller([&] {
    std::this_thread::sleep_for(Ms(30));
    std::string e;
    EXPECT_EQ(s->Signal(3, &e), Status::kOk) << e;
  });
  auto t0 = Clock::now();
  EXPECT_EQ(Wait(*s, 3, false, Clock::time_point::max(), &error), Status::kOk) << error;
  EXPECT_LT(MsSince(t0), 1000);
  signaller.join();
}

// Every wait also wakes by itself every ~200 ms, which would hide a lost wake-up from a test that only
// checks that the wait ends: the wake-ups here must come from the signals.
TEST(SyncStateWait, WakesComeFromTheSignalNotFromTheRecheck) {
  auto s = Make(Kind::kTimelineSemaphore, 0);
  auto other = Make(Kind::kFence, 0);
  Doorbell bell;
  std::vector<int64_t> us;
  for (uint64_t round = 1; round <= 30; ++round) {
    std::atomic<int64_t> signalled_at{0};
    std::thread t([&] {
      std::this_thread::sleep_for(Ms(5));
      signalled_at = Clock::now().time_since_epoch().count();
      std::string e;
      s->Signal(round, &e);
    });
    // One word (FUTEX_WAIT) on odd rounds, several (futex_waitv) on even ones.
    WaitItem items[] = {{s.get(), round, false, false}, {other.get(), 0, false, false}};
    std::string error;
    size_t first = 0;
    EXPECT_EQ(WaitMany({items, round % 2 ? 1u : 2u}, true, In(Ms(5000)), round % 2 ? nullptr : &bell,
                       bell.Load(), &first, &error),
              Status::kOk)
        << error;
    int64_t woke_at = Clock::now().time_since_epoch().count();
    t.join();
    us.push_back((woke_at - signalled_at.load()) / 1000);
  }
  std::sort(us.begin(), us.end());
  RecordProperty("median_signal_to_wake_us", static_cast<int>(us[us.size() / 2]));
  std::printf("signal -> wake in this process: median %lld us, max %lld us\n",
              static_cast<long long>(us[us.size() / 2]), static_cast<long long>(us.back()));
  EXPECT_LT(us[us.size() / 2], 50'000);
}

TEST(SyncStateWait, AnyAndAll) {
  auto a = Make(Kind::kTimelineSemaphore, 0);
  auto b = Make(Kind::kFence, 0);
  WaitItem items[] = {{a.get(), 2, false, false}, {b.get(), 0, false, false}};
  std::string error;
  size_t first = 99;
  EXPECT_EQ(WaitMany(items, true, In(Ms(20)), nullptr, 0, &first, &error), Status::kTimeout);

  std::thread t([&] {
    std::this_thread::sleep_for(Ms(30));
    std::string e;
    b->Signal(0, &e);
  });
  EXPECT_EQ(WaitMany(items, true, In(Ms(5000)), nullptr, 0, &first, &error), Status::kOk) << error;
  EXPECT_EQ(first, 1u);
  t.join();

  EXPECT_EQ(WaitMany(items, false, In(Ms(50)), nullptr, 0, &first, &error), Status::kTimeout);
  EXPECT_EQ(a->Signal(1, &error), Status::kOk);
  EXPECT_EQ(WaitMany(items, false, In(Ms(50)), nullptr, 0, &first, &error), Status::kTimeout);
  std::thread t2([&] {
    std::this_thread::sleep_for(Ms(30));
    std::string e;
    a->Signal(2, &e);
  });
  EXPECT_EQ(WaitMany(items, false, In(Ms(5000)), nullptr, 0, &first, &error), Status::kOk) << error;
  t2.join();
  EXPECT_EQ(WaitMany(items, true, Clock::time_point::min(), nullptr, 0, &first, &error), Status::kOk);
  EXPECT_EQ(first, 0u) << "the first satisfied item in order";
}

TEST(SyncStateWait, ItemsOnTheSamePayloadAndMappingsOfIt) {
  auto a = Make(Kind::kTimelineSemaphore, 0);
  std::string error;
  auto a2 = SyncState::Open(a->fd(), &error);
  ASSERT_NE(a2, nullptr) << error;
  WaitItem items[] = {{a.get(), 5, false, false}, {a.get(), 3, false, false}, {a2.get(), 4, false, false}};
  std::thread t([&] {
    std::this_thread::sleep_for(Ms(30));
    std::string e;
    a->Signal(4, &e);
  });
  size_t first = 99;
  EXPECT_EQ(WaitMany(items, true, In(Ms(5000)), nullptr, 0, &first, &error), Status::kOk) << error;
  EXPECT_EQ(first, 1u);
  t.join();
  EXPECT_EQ(WaitMany(items, false, In(Ms(30)), nullptr, 0, &first, &error), Status::kTimeout);
}

TEST(SyncStateWait, DoorbellEndsTheWait) {
  auto s = Make(Kind::kFence, 0);
  Doorbell bell;
  WaitItem item{s.get(), 0, false, false};
  std::string error;
  size_t first = 0;
  uint32_t seen = bell.Load();
  std::thread ringer([&] {
    std::this_thread::sleep_for(Ms(30));
    bell.Ring();
  });
  auto t0 = Clock::now();
  EXPECT_EQ(WaitMany({&item, 1}, true, Clock::time_point::max(), &bell, seen, &first, &error), Status::kOk);
  EXPECT_EQ(first, 1u) << "items.size(): the doorbell";
  EXPECT_LT(MsSince(t0), 1000);
  ringer.join();
  // Already rung since `seen`: at once, and before sleeping on anything.
  EXPECT_EQ(WaitMany({&item, 1}, true, Clock::time_point::max(), &bell, seen, &first, &error), Status::kOk);
  EXPECT_EQ(first, 1u);
  // No items: only the doorbell ends it.
  std::thread ringer2([&] {
    std::this_thread::sleep_for(Ms(30));
    bell.Ring();
  });
  EXPECT_EQ(WaitMany({}, false, In(Ms(5000)), &bell, bell.Load(), &first, &error), Status::kOk);
  EXPECT_EQ(first, 0u);
  ringer2.join();
}

TEST(SyncStateWait, WithoutFutexWaitvAndWithMoreWordsThanItTakes) {
  std::vector<std::shared_ptr<SyncState>> states;
  std::vector<WaitItem> items;
  for (int i = 0; i < 200; ++i) states.push_back(Make(Kind::kTimelineSemaphore, 0));
  for (auto& s : states) items.push_back({s.get(), 0, false, false});
  Doorbell bell;
  uint64_t round = 0;
  for (bool forced : {false, true}) {
    futex::waitv_unavailable = forced;
    for (size_t count : {size_t{3}, size_t{200}}) {  // 200 > FUTEX_WAITV_MAX: the fallback either way
      ++round;  // each round waits for a value no payload has reached yet
      for (auto& item : items) item.value = round;
      std::string error;
      size_t first = 0;
      size_t target = count - 2;
      std::thread t([&] {
        std::this_thread::sleep_for(Ms(20));
        std::string e;
        states[target]->Signal(round, &e);
      });
      auto t0 = Clock::now();
      EXPECT_EQ(WaitMany({items.data(), count}, true, In(Ms(5000)), &bell, bell.Load(), &first, &error),
                Status::kOk)
          << error;
      EXPECT_EQ(first, target);
      EXPECT_LT(MsSince(t0), 1000);
      t.join();
      std::thread r([&] {
        std::this_thread::sleep_for(Ms(20));
        bell.Ring();
      });
      EXPECT_EQ(WaitMany({items.data(), count}, false, In(Ms(5000)), &bell, bell.Load(), &first, &error),
                Status::kOk);
      EXPECT_EQ(first, count);
      r.join();
    }
  }
  futex::waitv_unavailable = false;
}

TEST(SyncStateWait, BadItemsAreErrors) {
  auto fence = Make(Kind::kFence, 1);
  std::string error;
  size_t first = 0;
  WaitItem items[] = {{fence.get(), 0, false, false}, {nullptr, 0, false, false}};
  EXPECT_EQ(WaitMany(items, true, In(Ms(10)), nullptr, 0, &first, &error), Status::kError);
  EXPECT_EQ(first, 1u);
  EXPECT_NE(error.find("no payload"), std::string::npos) << error;
  WaitItem consume_fence{fence.get(), 0, true, false};
  EXPECT_EQ(WaitMany({&consume_fence, 1}, true, In(Ms(10)), nullptr, 0, &first, &error), Status::kError);
  EXPECT_NE(error.find("fence wait cannot consume"), std::string::npos) << error;
}

// ---- Consuming waits ----

TEST(SyncStateConsume, TwoWaitersOneSignalOneWinner) {
  for (int round = 0; round < 10; ++round) {
    auto s = Make(Kind::kBinarySemaphore, 0);
    std::atomic<int> won{0}, timed_out{0};
    auto waiter = [&] {
      std::string e;
      Status st = Wait(*s, 0, true, In(Ms(200)), &e);
      (st == Status::kOk ? won : timed_out)++;
    };
    std::thread w1(waiter), w2(waiter);
    std::this_thread::sleep_for(Ms(round % 2 ? 10 : 0));
    std::string error;
    EXPECT_EQ(s->Signal(0, &error), Status::kOk);
    w1.join();
    w2.join();
    EXPECT_EQ(won.load(), 1);
    EXPECT_EQ(timed_out.load(), 1);
    EXPECT_EQ(ValueOf(*s), 0u);
  }
}

TEST(SyncStateConsume, EverySignalIsConsumedExactlyOnceByManyThreads) {
  auto s = Make(Kind::kBinarySemaphore, 0);
  constexpr int kSignals = 500, kConsumers = 7;
  std::atomic<int> consumed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> consumers;
  for (int i = 0; i < kConsumers; ++i) {
    consumers.emplace_back([&] {
      while (!stop.load()) {
        std::string e;
        Status st = Wait(*s, 0, true, In(Ms(20)), &e);
        ASSERT_TRUE(st == Status::kOk || st == Status::kTimeout) << e;
        if (st == Status::kOk) consumed++;
      }
    });
  }
  // One producer: a binary semaphore signalled twice before a wait holds one signal, so it signals only once
  // the previous one was taken. A lost or doubled signal shows as a count that stops or overshoots.
  auto t0 = Clock::now();
  auto consumed_reaches = [&](int n) {
    while (consumed.load() < n && MsSince(t0) < 60000) std::this_thread::yield();
    return consumed.load() == n;
  };
  std::string error;
  int signalled = 0;
  for (; signalled < kSignals && consumed_reaches(signalled); ++signalled) {
    if (s->Signal(0, &error) != Status::kOk) {
      ADD_FAILURE() << error;
      break;
    }
  }
  consumed_reaches(signalled);
  stop = true;
  for (auto& t : consumers) t.join();
  EXPECT_EQ(signalled, kSignals);
  EXPECT_EQ(consumed.load(), kSignals);
  EXPECT_EQ(ValueOf(*s), 0u);
}

TEST(SyncStateThreads, EightThreadsSignalAndWaitATimeline) {
  auto s = Make(Kind::kTimelineSemaphore, 0);
  constexpr uint64_t kLast = 4000;
  std::atomic<uint64_t> ticket{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      std::string e;
      for (uint64_t v; (v = ++ticket) <= kLast;) {
        ASSERT_EQ(s->Signal(v, &e), Status::kOk) << e;
        // Now and then a pause, so that the waiters get ahead and sleep rather than find their values
        // reached.
        if (v % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  std::atomic<int> waits{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      std::string e;
      for (uint64_t v = 1 + i; v <= kLast; v += 37) {
        ASSERT_EQ(Wait(*s, v, false, In(Ms(10000)), &e), Status::kOk) << e;
        waits++;
      }
      uint64_t seen = 0;
      ASSERT_EQ(s->Read(&seen, &e), Status::kOk) << e;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ValueOf(*s), kLast);
  EXPECT_GT(waits.load(), 400);
}

// ---- Holders and abandonment (in one process; test_sync_cross_process.cpp has the real thing) ----

TEST(SyncStateHolders, SlotsAreTakenAndLeft) {
  auto s = Make(Kind::kFence, 0);
  RawPage page(s->fd());
  EXPECT_EQ(page.UsedHolderSlots(), 1);
  {
    std::string error;
    auto o = SyncState::Open(s->fd(), &error);
    EXPECT_EQ(page.UsedHolderSlots(), 2);
    auto h = s->CountHolders();
    EXPECT_EQ(h.live_others, 0) << "this process is not another holder";
    EXPECT_EQ(h.dead, 0);
  }
  EXPECT_EQ(page.UsedHolderSlots(), 1);
  pid_t dead = DeadPid();
  page.Holder(5).store(dead);
  page.Holder(6).store(getppid());  // alive
  auto h = s->CountHolders();
  EXPECT_EQ(h.live_others, 1);
  EXPECT_EQ(h.dead, 1);
  // Garbage in a slot is no process.
  page.Holder(7).store(-42);
  h = s->CountHolders();
  EXPECT_EQ(h.live_others, 1);
  EXPECT_EQ(h.dead, 1);
}

TEST(SyncStateHolders, AFullTableReusesADeadHoldersSlot) {
  auto s = Make(Kind::kFence, 0);
  RawPage page(s->fd());
  pid_t dead = DeadPid();
  for (size_t i = 1; i < RawPage::kHolderSlots; ++i) page.Holder(i).store(i == 9 ? dead : getppid());
  std::string error;
  auto o = SyncState::Open(s->fd(), &error);
  ASSERT_NE(o, nullptr) << error;
  EXPECT_EQ(page.Holder(9).load(), getpid());
  o.reset();
  EXPECT_EQ(page.Holder(9).load(), 0);
}

TEST(SyncStateHolders, AbandonedWhenOnlyDeadOthersHeldIt) {
  auto s = Make(Kind::kBinarySemaphore, 0);
  RawPage page(s->fd());
  pid_t dead = DeadPid();
  page.Holder(3).store(dead);
  std::string error;
  size_t first = 99;
  auto other = Make(Kind::kFence, 0);
  WaitItem items[] = {{other.get(), 0, false, false}, {s.get(), 0, true, false}};
  auto t0 = Clock::now();
  // An infinite wait looks at once.
  EXPECT_EQ(WaitMany(items, true, Clock::time_point::max(), nullptr, 0, &first, &error), Status::kAbandoned);
  EXPECT_LT(MsSince(t0), 100);
  EXPECT_EQ(first, 1u);
  EXPECT_NE(error.find("the binary semaphore payload 0x"), std::string::npos) << error;
  EXPECT_NE(error.find("process " + std::to_string(dead) + " died"), std::string::npos) << error;
  // A finite one after its first ~200 ms asleep.
  t0 = Clock::now();
  EXPECT_EQ(WaitMany(items, true, In(Ms(2000)), nullptr, 0, &first, &error), Status::kAbandoned);
  EXPECT_GE(MsSince(t0), 150);
  EXPECT_LT(MsSince(t0), 1000);
  // Not while this process may still signal it, nor while another holder lives.
  items[1].local_signal_pending = true;
  EXPECT_EQ(WaitMany(items, true, In(Ms(450)), nullptr, 0, &first, &error), Status::kTimeout);
  items[1].local_signal_pending = false;
  page.Holder(4).store(getppid());
  EXPECT_EQ(WaitMany(items, true, In(Ms(450)), nullptr, 0, &first, &error), Status::kTimeout);
}

// ---- A page written by something else ----

TEST(SyncStateCorrupt, EveryOperationChecksThePage) {
  for (Kind kind : {Kind::kBinarySemaphore, Kind::kTimelineSemaphore, Kind::kFence}) {
    auto s = Make(kind, 0);
    RawPage page(s->fd());
    page.U32(RawPage::kMagic).store(0x41414141);
    std::string error;
    uint64_t v = 0;
    bool consumed = false;
    EXPECT_EQ(s->Read(&v, &error), Status::kCorrupt);
    EXPECT_NE(error.find("header magic 0x41414141"), std::string::npos) << error;
    EXPECT_NE(error.find(std::string("the ") + KindName(kind) + " payload"), std::string::npos) << error;
    EXPECT_EQ(s->Signal(1, &error), Status::kCorrupt);
    EXPECT_EQ(s->Reset(&error), Status::kCorrupt);
    EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kCorrupt);
    EXPECT_EQ(Wait(*s, 1, false, Clock::time_point::max(), &error), Status::kCorrupt);
    std::memset(page.bytes(), 0xff, page.size());
    EXPECT_EQ(s->Read(&v, &error), Status::kCorrupt);
    EXPECT_EQ(Wait(*s, 1, false, Clock::time_point::max(), &error), Status::kCorrupt);
  }
}

TEST(SyncStateCorrupt, ValuesOutOfRange) {
  auto bin = Make(Kind::kBinarySemaphore, 0);
  RawPage page(bin->fd());
  page.U64(RawPage::kValue).store(7);
  std::string error;
  uint64_t v = 0;
  EXPECT_EQ(bin->Read(&v, &error), Status::kCorrupt);
  EXPECT_NE(error.find("its value 7 is neither 0 (unsignalled) nor 1 (signalled)"), std::string::npos)
      << error;
  bool consumed = true;
  EXPECT_EQ(bin->TryConsume(&consumed, &error), Status::kCorrupt);
  EXPECT_FALSE(consumed);
  EXPECT_EQ(bin->Reset(&error), Status::kCorrupt);

  auto tl = Make(Kind::kTimelineSemaphore, 10);
  RawPage tpage(tl->fd());
  EXPECT_EQ(ValueOf(*tl), 10u);
  tpage.U64(RawPage::kValue).store(3);
  EXPECT_EQ(tl->Read(&v, &error), Status::kCorrupt);
  EXPECT_NE(error.find("its counter 3 went back below 10"), std::string::npos) << error;
  EXPECT_EQ(tl->Signal(20, &error), Status::kCorrupt);
  EXPECT_EQ(Wait(*tl, 20, false, Clock::time_point::max(), &error), Status::kCorrupt);
}

TEST(SyncStateCorrupt, AWaitEndsWhenThePageIsSpoiledWithoutAWake) {
  auto s = Make(Kind::kTimelineSemaphore, 0);
  RawPage page(s->fd());
  std::thread spoiler([&] {
    std::this_thread::sleep_for(Ms(50));
    page.U32(RawPage::kCheck).fetch_xor(1);  // no seq bump, no FUTEX_WAKE
  });
  std::string error;
  auto t0 = Clock::now();
  EXPECT_EQ(Wait(*s, 1, false, Clock::time_point::max(), &error), Status::kCorrupt);
  EXPECT_LT(MsSince(t0), 1000);
  EXPECT_NE(error.find("check word"), std::string::npos) << error;
  spoiler.join();
  // A hostile waiter count (0 while someone waits) only costs the wake-up its slice.
  page.U32(RawPage::kCheck).fetch_xor(1);
  std::thread signaller([&] {
    std::this_thread::sleep_for(Ms(50));
    page.U32(RawPage::kWaiters).store(0);
    std::string e;
    s->Signal(1, &e);
  });
  t0 = Clock::now();
  EXPECT_EQ(Wait(*s, 1, false, Clock::time_point::max(), &error), Status::kOk) << error;
  EXPECT_LT(MsSince(t0), 1000);
  signaller.join();
}

}  // namespace
}  // namespace ntbridge::test
