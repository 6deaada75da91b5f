// Waits on the shared payload in one process: deadlines, wake-ups, any/all, the doorbell, the fallback
// without futex_waitv, consuming waits, and many threads at once.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ntbridge::test
