#!/bin/bash
# Builds and runs ntbridge's benchmarks (issue 6), writes Google Benchmark JSON and a PNG plot.
#
#   scripts/bench.sh [--build-dir DIR] [--no-build] [--no-install] [--reps N] [--only LIST] OUT_DIR
#   scripts/bench.sh --build-only [--build-dir DIR]
#
# LIST: ops,scale,share,share64,cuda,sync (the default: all of them), or any of
#   sync-handoff, sync-ops, sync-scale  parts of `sync` (handoffs between processes; export / import / free;
#                                       10 000 live semaphores), each with a JSON file of its own
#   cuda-sync                           Vulkan -> CUDA handoffs through libntbridge_cuda (GPU only)
#   sync-gpu                            the NVIDIA set of issues 12 and 13: sync-handoff, cuda-sync, sync-ops,
#                                       sync-scale, in that order, each under a time limit (about 6 minutes
#                                       in all; NTBRIDGE_BENCH_RUN_LIMIT_<NAME>=seconds changes one)
#
# Every program runs both sides (the layer's Win32 path and the driver's fd path) in one process, with
# --benchmark_repetitions=N and --benchmark_enable_random_interleaving=true, so the two sides alternate and
# drift on a busy machine hits both. OUT_DIR gets NAME.json and NAME.txt per part (ops.json, ..., sync.json,
# cuda.json and cuda-sync.json on a GPU only), machine.txt, summary.txt / summary.json (ratios against the
# targets) and bench.png.
#
# Needs: cmake, a C++20 compiler, Google Benchmark (Debian: libbenchmark-dev), the Vulkan loader and a
# driver with VK_KHR_external_memory_fd; for the CUDA part the CUDA toolkit at build time and an NVIDIA GPU
# at run time; python3 and matplotlib for the PNG (scripts/plot_bench.py). When it builds, it installs what
# it needs with scripts/setup.sh (python3-matplotlib included); with --no-build it installs matplotlib only,
# where apt-get can.
# On a machine without a compiler, build elsewhere and pass --no-build --build-dir DIR: the programs need
# only DIR/bench (with its lib/ folder) and DIR/layer at run time. --no-install: never call apt-get (a
# machine without a network, where it could only wait).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-bench
BUILD_IT=1
REPS=10
ONLY=ops,scale,share,share64,cuda,sync
BUILD_ONLY=0
INSTALL=1
while [ $# -gt 0 ]; do
  case $1 in
    --build-only) BUILD_ONLY=1; shift ;;
    --no-install) INSTALL=0; shift ;;
    --build-dir) BUILD=$(realpath "$2"); shift 2 ;;
    --no-build) BUILD_IT=0; shift ;;
    --reps) REPS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
ONLY=${ONLY//sync-gpu/sync-handoff,cuda-sync,sync-ops,sync-scale}
if [ $BUILD_ONLY = 0 ]; then
  OUT=${1:?usage: scripts/bench.sh [--build-dir DIR] [--no-build] [--no-install] [--reps N] [--only LIST] OUT_DIR}
  mkdir -p "$OUT"
  OUT=$(realpath "$OUT")
fi

has_matplotlib() {
  local p
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c "import matplotlib" 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
if [ $BUILD_IT = 1 ]; then
  if [ $BUILD_ONLY = 1 ]; then "$ROOT/scripts/setup.sh"; else "$ROOT/scripts/setup.sh" python3-matplotlib; fi
elif [ $BUILD_ONLY = 0 ] && [ $INSTALL = 1 ] && ! has_matplotlib >/dev/null && command -v apt-get >/dev/null; then
  "$ROOT/scripts/setup.sh" --only python3-matplotlib ||
    echo "note: could not install python3-matplotlib: the summary is written, the PNG is not" >&2
fi

if [ $BUILD_IT = 1 ]; then
  # Release and no sanitizer, whatever an earlier configuration of this folder cached: the numbers are
  # compared across machines and runs.
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DNTBRIDGE_SANITIZE= -DNTBRIDGE_BUILD_BENCHMARKS=ON >/dev/null
  targets="ntbridge_bench_ops ntbridge_bench_scale ntbridge_bench_share"
  targets+=" ntbridge_bench_sync"
  # (the CUDA programs exist where CMake found the CUDA toolkit)
  for t in ntbridge_bench_cuda ntbridge_bench_cuda_sync; do
    grep -qs "^build bench/$t:\|^$t:" "$BUILD/build.ninja" "$BUILD/Makefile" && targets+=" $t"
  done
  # The broker, where the tree has one (named handles and KMT values need it).
  if grep -qs ntbridged "$BUILD/build.ninja" "$BUILD/Makefile"; then targets+=" ntbridged"; fi
  cmake --build "$BUILD" -j"$(nproc)" --target VkLayer_ntbridge_external_win32 $targets
  # What was built, for machine.txt of a run elsewhere (where the tree may have no .git).
  git -C "$ROOT" describe --always --dirty >"$BUILD/COMMIT" 2>/dev/null || rm -f "$BUILD/COMMIT"
fi
if [ $BUILD_ONLY = 1 ]; then
  echo "built: $BUILD/bench and $BUILD/layer are all the benchmarks need at run time"
  exit 0
fi

export VK_ADD_LAYER_PATH=${VK_ADD_LAYER_PATH:-$BUILD/layer}
# A machine whose libstdc++ is older than the build machine's gets the build machine's copy.
if ldd "$BUILD/bench/ntbridge_bench_ops" 2>&1 | grep -q "not found" && [ -e "$BUILD/bench/lib/fallback/libstdc++.so.6" ]; then
  echo "note: using the build machine's libstdc++ ($BUILD/bench/lib/fallback)" >&2
  export LD_LIBRARY_PATH="$BUILD/bench/lib/fallback${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# The layer starts the broker (ntbridged) when none answers; it looks beside itself first, which is where the
# build puts it (DIR/layer). NTBRIDGE_BROKER_PATH overrides.
[ -x "$VK_ADD_LAYER_PATH/ntbridged" ] || echo "note: no ntbridged beside the layer: named/KMT benchmarks will be skipped" >&2
# A broker of this run's own: one already running at the default socket (another build's, still within its
# idle time) would otherwise answer, and be what is measured.
if [ -z "${VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET:-}" ]; then
  BROKER_DIR=$(mktemp -d /tmp/ntbridge-bench-XXXXXX)
  export VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET=$BROKER_DIR/broker.sock
  trap 'pkill -f -- "--socket $BROKER_DIR/broker.sock" 2>/dev/null; rm -rf "$BROKER_DIR"' EXIT
fi

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown);" \
    "programs built at $(cat "$BUILD/COMMIT" 2>/dev/null || echo unknown)"
  echo "host: $(uname -srm); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
  echo "cpuidle: $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none)" \
    "governor $(cat /sys/devices/system/cpu/cpuidle/current_governor_ro 2>/dev/null || echo -);" \
    "cpufreq $(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo -);" \
    "virt $(systemd-detect-virt 2>/dev/null || echo unknown)"
  # What was measured: a build of another type, with sanitizers, or another build's broker changes the
  # numbers (docs/performance.md, part 2).
  echo "build: $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || echo '?')," \
    "sanitizers '$(sed -n 's/^NTBRIDGE_SANITIZE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)'"
  echo "broker: ${NTBRIDGE_BROKER_PATH:-$VK_ADD_LAYER_PATH/ntbridged} at $VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET"
  echo "loadavg at start: $(cat /proc/loadavg)"
} >"$OUT/machine.txt"
if ! grep -q "^build: Release, sanitizers ''" "$OUT/machine.txt"; then
  echo "note: $BUILD is not a Release build without sanitizers ($(grep '^build:' "$OUT/machine.txt")): its" \
    "numbers are not comparable with docs/performance.md" >&2
fi

run() {  # name, program, extra args; LIMIT=seconds (or NTBRIDGE_BENCH_RUN_LIMIT_<NAME>) stops it after that
  local name=$1 prog=$2 var limit
  shift 2
  if [[ ",$ONLY," != *",$name,"* ]]; then return 0; fi
  if [ ! -x "$BUILD/bench/$prog" ]; then
    echo "== $name: $BUILD/bench/$prog not built, skipped" | tee -a "$OUT/machine.txt"
    return 0
  fi
  var=NTBRIDGE_BENCH_RUN_LIMIT_$(echo "$name" | tr 'a-z-' 'A-Z_')
  limit=${!var:-${LIMIT:-0}}
  local shown=""
  [ "$limit" != 0 ] && shown=", limit ${limit}s"
  echo "== $name (reps $REPS$shown, start $(date -u +%T), loadavg $(cut -d' ' -f1-3 /proc/loadavg))" |
    tee -a "$OUT/machine.txt"
  local status=0
  timeout -k 10 "$limit" "$BUILD/bench/$prog" --benchmark_repetitions="$REPS" \
    --benchmark_enable_random_interleaving=true --benchmark_out="$OUT/$name.json" --benchmark_out_format=json \
    "$@" 2>&1 | tee "$OUT/$name.txt" || status=$?
  if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "== $name: stopped at its limit of ${limit}s: what it measured is in $OUT/$name.txt only" |
      tee -a "$OUT/machine.txt"
    [ -e "$OUT/$name.json" ] && mv "$OUT/$name.json" "$OUT/$name.json.incomplete"
  elif [ "$status" != 0 ]; then
    echo "== $name: exit status $status" | tee -a "$OUT/machine.txt"
  fi
}

run ops ntbridge_bench_ops
# Each scale repetition rebuilds up to 100 000 live allocations (seconds on a GPU driver): fewer repetitions.
REPS=$(( REPS < 3 ? REPS : 3 )) run scale ntbridge_bench_scale
# The 64-process runs load the whole machine: they are kept apart from the single-process opens.
run share ntbridge_bench_share --benchmark_filter='^open(_only)?/'
REPS=$(( REPS < 3 ? REPS : 3 )) run share64 ntbridge_bench_share --benchmark_filter='^open_64_processes/'
run cuda ntbridge_bench_cuda
# Semaphores and fences (issues 12, 13): a peer process, ping-pongs, GPU chains, scale to 10 000, export /
# import / free; all in one run, or in parts.
run sync ntbridge_bench_sync
# The NVIDIA set (sync-gpu): the handoffs first, then CUDA, the operations, the scale, each under a limit
# that keeps the whole within about 6 minutes (docs/performance.md, "Semaphores and fences").
# (the handoffs interleaved only: the targets come from them; the single-path ones would double the time)
LIMIT=110 run sync-handoff ntbridge_bench_sync --benchmark_filter='^interleaved/'
REPS=$(( REPS < 10 ? REPS : 10 )) LIMIT=45 run cuda-sync ntbridge_bench_cuda_sync
LIMIT=110 run sync-ops ntbridge_bench_sync --benchmark_filter='^(semaphore|fence)_'
REPS=$(( REPS < 3 ? REPS : 3 )) LIMIT=60 run sync-scale ntbridge_bench_sync --benchmark_filter='^scale_'
echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUT/machine.txt"

# The first Python that has matplotlib draws the PNG; any Python 3 still writes the summary.
PY=$(has_matplotlib) || PY=python3
rm -f "$OUT/bench.png"
if command -v "$PY" >/dev/null; then
  "$PY" "$ROOT/scripts/plot_bench.py" "$OUT" --png "$OUT/bench.png"
else
  echo "no python3: run scripts/plot_bench.py $OUT elsewhere for the summary and the plot"
fi
if [ ! -s "$OUT/bench.png" ]; then
  echo "bench.sh: no $OUT/bench.png: matplotlib is missing (apt-get install python3-matplotlib), or see above;" \
    "the JSON files are written: scripts/plot_bench.py $OUT --png FILE draws it where matplotlib is" >&2
  if [ $BUILD_IT = 1 ]; then exit 1; fi
fi
