#!/usr/bin/env bash
# Runs every test of a GoogleTest binary in its own process, as ctest does, and prints a summary.
# Used where ctest's build-tree paths do not exist (the GPU machine): NVIDIA's driver there refuses an eighth
# vkCreateInstance in one process, with or without any layer.
# Usage: scripts/gtest_each.sh BINARY [FILTER]
set -u
bin=$1
filter=${2:-*}
pass=0 fail=0 skip=0
failed=()
for t in $("$bin" --gtest_list_tests --gtest_filter="$filter" | awk '/^[^ ]/{s=$1} /^  /{print s $1}'); do
  # A test that hangs is killed and counted as failed, so one hang does not cost the rest of the run.
  out=$(timeout "${NTBRIDGE_TEST_TIMEOUT:-120}" "$bin" --gtest_filter="$t" 2>&1)
  if grep -q "^\[  SKIPPED \]" <<<"$out"; then
    # The reason is the line after "file:line: Skipped".
    skip=$((skip + 1)); echo "SKIP $t: $(grep -m1 -A1 ': Skipped$' <<<"$out" | tail -n1)"
  elif grep -q "^\[  PASSED  \] 1 test" <<<"$out"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); failed+=("$t"); echo "FAIL $t"; echo "$out" | grep -vE '^\[ *(RUN|OK) ' | tail -15
  fi
done
echo "$(basename "$bin"): $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
