// Eight threads submitting, signalling and waiting on shared payloads of one device at once (run under
// ThreadSanitizer by scripts/test.sh): every wait completes, every value arrives, nothing races.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "sync_support.hpp"

namespace ntbridge::test {
namespace {

constexpr uint64_t kSecond = 1000ull * 1000 * 1000;

int Rounds() {
  const char* env = std::getenv("NTBRIDGE_STRESS_ITERATIONS");
  int n = env != nullptr ? std::atoi(env) : 200;
  return n > 0 ? n : 200;
}

class SyncThreads : public SyncTest {};

// Each thread owns a pair: an exported timeline semaphore and its import. It signals the exporter from the
// queue (a submission whose signal goes through the bridge's publisher) and from the host, in turn, and waits
// on the import from the host and from the queue (a submission whose wait goes through the bridge's gate).
TEST_F(SyncThreads, EightThreadsShareOnePayloadEach) {
  constexpr int kThreads = 8;
  const int rounds = Rounds();
  const auto budget = std::chrono::seconds(std::getenv("NTBRIDGE_STRESS_SECONDS") != nullptr
                                               ? std::atoi(std::getenv("NTBRIDGE_STRESS_SECONDS"))
                                               : 30);
  const auto start = std::chrono::steady_clock::now();
  std::mutex queue_mutex;  // vkQueueSubmit's queue is externally synchronised
  std::atomic<int> failures{0};
  std::atomic<int> done_rounds{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      VkSemaphore a = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0, t % 2 ? kSemKmt : kSemNt);
      HANDLE h = s->SemaphoreHandle(a, t % 2 ? kSemKmt : kSemNt);
      VkSemaphore b = s->Semaphore(VK_SEMAPHORE_TYPE_TIMELINE, 0);
      if (s->ImportSemaphore(b, t % 2 ? kSemKmt : kSemNt, h) != VK_SUCCESS) {
        ++failures;
        return;
      }
      if (t % 2 == 0) close(Fd(h));
      VkFence fence = s->Fence(false);
      for (int i = 1; i <= rounds; ++i) {
        if (std::chrono::steady_clock::now() - start > budget) break;
        const uint64_t v = 2 * static_cast<uint64_t>(i);
        VkResult r;
        {
          std::lock_guard lock(queue_mutex);
          r = s->Submit({}, {{a, v - 1}}, VK_NULL_HANDLE);
        }
        if (r != VK_SUCCESS || s->HostWait(b, v - 1, 10 * kSecond) != VK_SUCCESS) {
          ++failures;
          break;
        }
        {
          std::lock_guard lock(queue_mutex);
          r = s->Submit({{b, v}}, {}, fence);
        }
        if (r != VK_SUCCESS || s->HostSignal(a, v) != VK_SUCCESS ||
            s->WaitFence(fence, 10 * kSecond) != VK_SUCCESS ||
            vkResetFences(s->dev->device, 1, &fence) != VK_SUCCESS || s->Counter(b) != v) {
          ++failures;
          break;
        }
        ++done_rounds;
      }
      vkDestroyFence(s->dev->device, fence, nullptr);
      vkDestroySemaphore(s->dev->device, b, nullptr);
      vkDestroySemaphore(s->dev->device, a, nullptr);
    });
  }
  for (auto& th : threads) th.join();
  std::printf("SyncThreads: %d rounds in all (of %d asked per thread, %d threads)\n", done_rounds.load(),
              rounds, kThreads);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(done_rounds.load(), kThreads) << "not one round per thread ran within the time budget";
}

}  // namespace
}  // namespace ntbridge::test
