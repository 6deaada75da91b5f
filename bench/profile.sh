#!/bin/bash
# Deterministic CPU cost of each step, Win32 path versus fd path: instructions per call counted by callgrind
# (valgrind), and system calls per call counted by strace. Runs the "cycle" benchmark of ntbridge_bench_ops
# with a fixed iteration count, so each step runs exactly N times per side.
# Usage: bench/profile.sh BUILD_DIR [N] [SIZE]      (needs valgrind; strace optional)
set -euo pipefail
BUILD=${1:?build dir}
N=${2:-1000}
SIZE=${3:-65536}
BIN=$BUILD/bench/ntbridge_bench_ops
OUT=$(mktemp -d)
printf "%-22s %-6s %14s %14s\n" step side "instr/call" "syscalls/call"
for side in win32 fd; do
  for fn in AllocateExportable Export ImportKeep Free; do
    NTBRIDGE_BENCH_ITERATIONS=$N valgrind --tool=callgrind --callgrind-out-file=$OUT/cg.$side.$fn \
      --toggle-collect="ntbridge::bench::VkSide::$fn(*" \
      "$BIN" --benchmark_filter="^cycle/$side/$SIZE/" >/dev/null 2>$OUT/log.$side.$fn
    ir=$(grep -E '^(summary|totals):' $OUT/cg.$side.$fn | head -1 | awk '{print $2}')
    calls=$N
    [ "$fn" = Free ] && calls=$((2 * N))  # the exported and the imported memory
    sys="-"
    if command -v strace >/dev/null && [ "$fn" = AllocateExportable ]; then
      : # system calls are counted for the whole cycle below
    fi
    printf "%-22s %-6s %14.0f %14s\n" "$fn" "$side" "$(echo "$ir / $calls" | bc -l)" "$sys"
  done
  if command -v strace >/dev/null; then
    for n in $N $((2 * N)); do
      NTBRIDGE_BENCH_ITERATIONS=$n strace -f -c -o $OUT/st.$side.$n "$BIN" --benchmark_filter="^cycle/$side/$SIZE/" >/dev/null 2>&1 || true
    done
    a=$(awk '/^100.00|total/ {print $4}' $OUT/st.$side.$N | tail -1)
    b=$(awk '/^100.00|total/ {print $4}' $OUT/st.$side.$((2 * N)) | tail -1)
    printf "%-22s %-6s %14s %14.1f\n" "whole cycle" "$side" "" "$(echo "($b - $a) / $N" | bc -l)"
    echo "  system calls per cycle ($side):"
    python3 - "$OUT/st.$side.$N" "$OUT/st.$side.$((2 * N))" "$N" <<'PY'
import sys
def load(p):
    d = {}
    for line in open(p):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls = int(f[3]); d[f[-1]] = calls
    return d
a, b, n = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
for k in sorted(b, key=lambda k: -(b[k] - a.get(k, 0))):
    per = (b[k] - a.get(k, 0)) / n
    if per >= 0.5:
        print("    %-16s %.1f" % (k, per))
PY
  fi
done
rm -rf "$OUT"
