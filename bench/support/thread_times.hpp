// On-CPU time and run-queue wait of every thread of this process (/proc/self/task/*/schedstat): where the
// time of a handoff goes, thread by thread (the layer's queue threads, the driver's, the application's).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ntbridge::bench {

struct ThreadTimes {
  struct Thread {
    int tid = 0;
    std::string comm;
    uint64_t cpu_ns = 0, wait_ns = 0;
  };
  std::vector<Thread> threads;
  static ThreadTimes Take();
};

// Adds the counters cpu_us_per_op and runqueue_us_per_op (all threads of this process, per operation) and,
// where NTBRIDGE_BENCH_THREADS is set, prints each thread's share to stderr under `what`.
void ReportThreadTimes(benchmark::State& state, const ThreadTimes& before, const ThreadTimes& after, int ops,
                       const std::string& what);

}  // namespace ntbridge::bench
