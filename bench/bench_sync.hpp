// The parts of ntbridge_bench_sync: the host and queue handoffs between processes (bench_sync.cpp, with main;
// bench_sync_peer.hpp: the two processes), the GPU -> GPU chains between them (bench_sync_chain.cpp) and the
// operations of one process (bench_sync_ops.cpp: scale, export / import / free).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "bench_sync_vk.hpp"
#include "thread_times.hpp"

namespace ntbridge::bench {

inline int64_t NowNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// The q-quantile (0..1) of `xs` (reordered).
template <typename T>
double Quantile(std::vector<T>& xs, double q) {
  if (xs.empty()) return 0;
  size_t k = std::min(xs.size() - 1, static_cast<size_t>(q * static_cast<double>(xs.size())));
  std::nth_element(xs.begin(), xs.begin() + static_cast<long>(k), xs.end());
  return static_cast<double>(xs[k]);
}

// The median over k of f(k), k < n: for statistics of samples paired by their moment (sample k of one leg
// against sample k of another, taken one after the other).
template <typename F>
double PairedMedian(size_t n, F&& f) {
  std::vector<double> v;
  v.reserve(n);
  for (size_t k = 0; k < n; ++k) v.push_back(f(k));
  return Quantile(v, 0.5);
}

// Skips a benchmark whose side cannot run it, saying why, and returns true.
bool SkipUnless(benchmark::State& state, bool can, const std::string& why);

// Registers the benchmarks of bench_sync_ops.cpp on the two sides (which outlive them).
void RegisterOpsBenchmarks(SyncSide* win32, SyncSide* fd);
// Destroys what they kept alive between runs (before the sides go).
void TearDownOpsBenchmarks();

}  // namespace ntbridge::bench
