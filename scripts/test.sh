#!/usr/bin/env bash
# Sets everything up, builds, and runs every test suite: the normal build, then the sanitizer build.
# Usage: scripts/test.sh            (all suites; the sanitizer build's ctest summary comes last)
#        NTBRIDGE_SKIP_SANITIZERS=1 NTBRIDGE_SKIP_FUZZ=1 scripts/test.sh   (the normal build only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)

# Each configure sets every option it needs (build/ may have been configured by scripts/demo.sh without
# tests), and ctest fails when it finds no tests instead of reporting success.
scripts/configure.sh test
cmake --build build -j"$jobs"
status=0
(cd build && ctest --no-tests=error --output-on-failure -j"$jobs" --timeout 300) || status=1

if [ -z "${NTBRIDGE_SKIP_FUZZ:-}" ]; then
  echo "== libFuzzer smoke: each target for ${NTBRIDGE_FUZZ_SECONDS:-15}s =="
  scripts/fuzz.sh "${NTBRIDGE_FUZZ_SECONDS:-15}" || status=1
fi

if [ -z "${NTBRIDGE_SKIP_SANITIZERS:-}" ]; then
  echo "== ThreadSanitizer build: the concurrency tests (memory, and semaphores and fences on shared payloads) =="
  scripts/configure.sh tsan
  cmake --build build-tsan -j"$jobs" --target robustness_tests sync_thread_tests VkLayer_ntbridge_external_win32 \
    ntbridge_test_child ntbridged
  (cd build-tsan && NTBRIDGE_TEST_PIN_LIBRARIES=1 NTBRIDGE_STRESS_ITERATIONS=1000 TSAN_OPTIONS=halt_on_error=1 \
    ctest --no-tests=error --output-on-failure -L robustness --timeout 900) || status=1

  echo "== AddressSanitizer + UndefinedBehaviorSanitizer build =="
  scripts/configure.sh asan
  cmake --build build-asan -j"$jobs"
  # Libraries stay loaded so every leak is attributed; the driver's and validation layer's own are suppressed.
  (cd build-asan && NTBRIDGE_TEST_PIN_LIBRARIES=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/../tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --no-tests=error --output-on-failure -j"$jobs" --timeout 600 -LE "load|gpu") || status=1
fi
exit $status
