// Stress and loop tests stop after a count or a time budget, whichever comes first, so that a slow driver or
// a sanitizer build bounds how long they take instead of running into ctest's timeout (issue 14: 150 s on an
// NVIDIA GPU). A floor of iterations is always run, so the test's assertions stay about a real amount of
// work, and the number run is printed and recorded as the test property "iterations".
//   NTBRIDGE_STRESS_SECONDS     the time budget of each test, default 20
//   NTBRIDGE_STRESS_ITERATIONS  the count, in the tests that take it from there (may lower the floor)
#pragma once

#include <atomic>
#include <chrono>
#include <string>

namespace ntbridge::test {

class StressBudget {
 public:
  // `count`: iterations when the budget allows (per thread in a multi-threaded loop). `floor`: run whatever
  // the budget says. `count_from_env`: NTBRIDGE_STRESS_ITERATIONS replaces `count`.
  StressBudget(std::string what, int count, int floor, bool count_from_env = false);

  // Whether iteration `i` (0-based, of one loop) is to run. Safe to call from several threads.
  bool Continue(int i) const;
  // Counts completed iterations (all threads together).
  void Completed(int n = 1) { completed_.fetch_add(n, std::memory_order_relaxed); }
  int completed() const { return completed_.load(std::memory_order_relaxed); }
  int count() const { return count_; }
  int floor() const { return floor_; }

  // Prints "<what>: N iterations in S s (count C, floor F, budget B s)" and records the property; call it
  // from the test's thread once the loops are done.
  void Report() const;

  static double BudgetSeconds();

 private:
  std::string what_;
  int count_;
  int floor_;
  double budget_seconds_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point deadline_;
  std::atomic<int> completed_{0};
};

}  // namespace ntbridge::test
