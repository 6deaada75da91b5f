// The time budget of the stress tests (tests/support/stress_budget.hpp): a loop stops at its count or when
// NTBRIDGE_STRESS_SECONDS have passed, and never before its floor.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <thread>

#include "stress_budget.hpp"

namespace ntbridge::test {
namespace {

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

int RunLoop(StressBudget& budget, std::chrono::milliseconds per_iteration) {
  int i = 0;
  for (; budget.Continue(i); ++i) {
    std::this_thread::sleep_for(per_iteration);
    budget.Completed();
  }
  return i;
}

TEST(StressBudget, StopsAtTheCountWithinTheBudget) {
  ScopedEnv seconds("NTBRIDGE_STRESS_SECONDS", "60");
  StressBudget budget("count", 50, 5);
  EXPECT_EQ(RunLoop(budget, std::chrono::milliseconds(0)), 50);
  EXPECT_EQ(budget.completed(), 50);
}

TEST(StressBudget, StopsWhenTheTimeIsSpent) {
  ScopedEnv seconds("NTBRIDGE_STRESS_SECONDS", "0.2");
  StressBudget budget("time", 1000000, 5);
  const auto start = std::chrono::steady_clock::now();
  const int ran = RunLoop(budget, std::chrono::milliseconds(10));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(ran, 5);
  EXPECT_LT(ran, 1000000);
  EXPECT_GE(took, std::chrono::milliseconds(200));
  EXPECT_LT(took, std::chrono::seconds(5)) << "the budget of 0.2 s did not stop the loop";
  budget.Report();
}

TEST(StressBudget, RunsTheFloorWhateverTheBudget) {
  ScopedEnv seconds("NTBRIDGE_STRESS_SECONDS", "0.001");
  StressBudget budget("floor", 1000, 20);
  EXPECT_EQ(RunLoop(budget, std::chrono::milliseconds(2)), 20);
}

TEST(StressBudget, IterationsFromTheEnvironmentReplaceTheCountAndCapTheFloor) {
  ScopedEnv seconds("NTBRIDGE_STRESS_SECONDS", "60");
  ScopedEnv iterations("NTBRIDGE_STRESS_ITERATIONS", "7");
  StressBudget from_env("env", 10000, 128, /*count_from_env=*/true);
  EXPECT_EQ(from_env.count(), 7);
  EXPECT_EQ(from_env.floor(), 7);
  EXPECT_EQ(RunLoop(from_env, std::chrono::milliseconds(0)), 7);
  StressBudget fixed("fixed", 30, 10);
  EXPECT_EQ(fixed.count(), 30) << "only tests that ask take their count from NTBRIDGE_STRESS_ITERATIONS";
}

}  // namespace
}  // namespace ntbridge::test
