#!/usr/bin/env bash
# The demo's frames/s through ntbridge next to the same pipeline written on the driver's fd extensions without
# it (issue 13 asks for at least 0.95 of it): `ntbridge demo --mode nt` and `ntbridge demo --mode fd`, the
# same frames, size and ring, alternately ROUNDS times each (drift on a busy machine hits both), then the
# medians and their ratio.
#
#   scripts/demo_baseline.sh [--tool PATH] [--rounds N] [DEMO OPTIONS...]
#
# DEMO OPTIONS go to both runs (default: --frames 2000; --sync gpu unless given). The tool defaults to
# build/src/tool/ntbridge; VK_ADD_LAYER_PATH must lead to the layer (the tool finds its build tree's by itself).
# Needs a driver that exports timeline semaphores as OPAQUE_FD for --sync gpu (NVIDIA; lavapipe has no
# VK_KHR_external_semaphore_fd, where only --sync cpu compares). Exit status 0 when every run verified every
# frame and the ratio is at least 0.95; 1 otherwise. With $OUT set, the runs and the summary go there too.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=build/src/tool/ntbridge
rounds=3
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --tool) tool=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --mode) echo "demo_baseline.sh: the modes are nt and fd, both run" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ " ${args[*]-} " == *" --frames "* ]] || args+=(--frames 2000)
[ -x "$tool" ] || { echo "demo_baseline.sh: no tool at $tool (build it, or pass --tool)" >&2; exit 2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# frames/s of one run from its result line; the run's output goes to the log (and to stderr when it failed).
run() {
  local mode=$1 out
  out=$("$tool" demo --mode "$mode" "${args[@]}" 2>&1) || { echo "$out" | tee -a "$log" >&2; return 1; }
  echo "$out" >> "$log"
  sed -n "s/^\[$mode\] OK: .* \([0-9.]*\) frames\/s, 0 mismatches.*/\1/p" <<< "$out"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

nt_runs=() fd_runs=()
for ((i = 1; i <= rounds; i++)); do
  nt=$(run nt) || { echo "round $i: ntbridge demo --mode nt failed (above)" >&2; exit 1; }
  fd=$(run fd) || { echo "round $i: ntbridge demo --mode fd failed (above)" >&2; exit 1; }
  if [ -z "$nt" ] || [ -z "$fd" ]; then
    cat "$log"
    echo "round $i: a run did not verify every frame"
    exit 1
  fi
  echo "round $i: ntbridge (--mode nt) $nt frames/s, driver alone (--mode fd) $fd frames/s"
  nt_runs+=("$nt") fd_runs+=("$fd")
done
nt=$(printf '%s\n' "${nt_runs[@]}" | median)
fd=$(printf '%s\n' "${fd_runs[@]}" | median)
verdict=$(awk -v a="$nt" -v b="$fd" 'BEGIN { r = a / b; printf "%.3f %s", r, (r >= 0.95 ? "met" : "MISSED") }')
summary="demo ${args[*]}: median of $rounds rounds: ntbridge (--mode nt) $nt frames/s, driver alone (--mode fd) \
$fd frames/s; ratio ${verdict% *} (target >= 0.95): ${verdict#* }"
echo "$summary"
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  cp "$log" "$OUT/demo-baseline-runs.log"
  echo "$summary" > "$OUT/demo-baseline.txt"
fi
[ "${verdict#* }" = met ]
