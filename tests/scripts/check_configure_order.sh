#!/usr/bin/env bash
# The README's two commands share build/: scripts/demo.sh configures it without tests, and scripts/test.sh must
# bring them back (issue 14: the cached OFF made ctest find no tests and pass). Runs each script's configure
# step (scripts/configure.sh) in both orders on a scratch folder, without building, and checks what the
# cache and ctest's list of tests hold after each.
# Usage: check_configure_order.sh SOURCE_DIR SCRATCH_DIR [cmake arguments, e.g. the compilers]
set -euo pipefail
src=$1 scratch=$2
shift 2
log=$scratch.log

configure() {
  echo "== scripts/configure.sh $*"
  if ! "$src/scripts/configure.sh" "$1" "$scratch" "${@:2}" "${compilers[@]}" >"$log" 2>&1; then
    cat "$log"
    echo "FAIL: scripts/configure.sh $* failed" >&2
    exit 1
  fi
}
cached() { sed -n "s/^$1:[A-Z]*=//p" "$scratch/CMakeCache.txt"; }
expect_cached() {
  local value
  value=$(cached "$1")
  if [ "$value" != "$2" ]; then
    echo "FAIL: after '$3', $1 is '$value' in the cache, expected '$2'" >&2
    exit 1
  fi
}
compilers=("$@")

# A folder left by someone else's purpose: no tests, and a sanitizer.
configure demo -DNTBRIDGE_SANITIZE=thread
expect_cached NTBRIDGE_BUILD_TESTS OFF "configure.sh demo"

# demo, then test: the tests are back, with no sanitizer, and ctest lists them.
configure test
expect_cached NTBRIDGE_BUILD_TESTS ON "configure.sh demo; configure.sh test"
expect_cached NTBRIDGE_SANITIZE "" "configure.sh demo -DNTBRIDGE_SANITIZE=thread; configure.sh test"
listing=$(ctest --test-dir "$scratch" -N --no-tests=error) || {
  echo "$listing"
  echo "FAIL: after configure.sh demo then test, ctest finds no tests" >&2
  exit 1
}
total=$(sed -n 's/^Total Tests: //p' <<<"$listing")
echo "ctest lists ${total:-no} tests after demo then test"
for name in unit_tests tool_help install_staged; do
  grep -q "$name" <<<"$listing" || {
    echo "$listing"
    echo "FAIL: ctest does not list $name after configure.sh demo then test" >&2
    exit 1
  }
done

# test, then demo: the demo's folder has no tests and still builds the tool.
configure demo
expect_cached NTBRIDGE_BUILD_TESTS OFF "configure.sh test; configure.sh demo"
grep -q "^build src/tool/ntbridge:" "$scratch/build.ninja" || {
  echo "FAIL: after configure.sh test then demo, build.ninja has no src/tool/ntbridge" >&2
  exit 1
}
echo "PASS: demo then test, and test then demo, configure what each needs"
