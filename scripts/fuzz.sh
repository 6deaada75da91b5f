#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 30) on its corpus in fuzz/corpus/.
# New inputs go to build-fuzz/corpus/<name>; a crash fails the run and leaves its input in build-fuzz/.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
scripts/configure.sh fuzz >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=($(ls fuzz/corpus))
fi
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/%/_fuzzer}"
rm -f build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-*
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  echo "== ${t}_fuzzer for ${seconds}s =="
  (cd build-fuzz && "./fuzz/${t}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 "corpus/$t" "../fuzz/corpus/$t" 2>&1 |
    grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY)" || true)
  if ls build-fuzz/crash-* build-fuzz/leak-* build-fuzz/timeout-* >/dev/null 2>&1; then
    echo "fuzz: ${t}_fuzzer found a problem; inputs in build-fuzz/" >&2
    exit 1
  fi
done
