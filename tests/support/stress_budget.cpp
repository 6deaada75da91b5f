#include "stress_budget.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace ntbridge::test {
namespace {

// A positive number from the environment, or `fallback` when unset; anything else is a test setup error.
double PositiveFromEnv(const char* name, double fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const double parsed = std::strtod(value, &end);
  if (end == value || *end != '\0' || !(parsed > 0)) {
    ADD_FAILURE() << name << "='" << value << "' is not a positive number; using " << fallback;
    return fallback;
  }
  return parsed;
}

}  // namespace

double StressBudget::BudgetSeconds() { return PositiveFromEnv("NTBRIDGE_STRESS_SECONDS", 20.0); }

StressBudget::StressBudget(std::string what, int count, int floor, bool count_from_env)
    : what_(std::move(what)),
      count_(count_from_env ? static_cast<int>(PositiveFromEnv("NTBRIDGE_STRESS_ITERATIONS", count)) : count),
      floor_(std::min(floor, count_)),
      budget_seconds_(BudgetSeconds()),
      start_(std::chrono::steady_clock::now()),
      deadline_(start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double>(budget_seconds_))) {}

bool StressBudget::Continue(int i) const {
  if (i >= count_) return false;
  return i < floor_ || std::chrono::steady_clock::now() < deadline_;
}

void StressBudget::Report() const {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::printf("[ STRESS   ] %s: %d iterations in %.1f s (count %d, floor %d, budget %.0f s)\n", what_.c_str(),
              completed(), seconds, count_, floor_, budget_seconds_);
  std::fflush(stdout);
  ::testing::Test::RecordProperty("iterations", completed());
}

}  // namespace ntbridge::test
