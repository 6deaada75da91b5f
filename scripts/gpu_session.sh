#!/usr/bin/env bash
# The NVIDIA machine's part of the work (issues 11, 12, 13, 15, 16), ready to run in a session that is lent one.
#
#   scripts/gpu_session.sh prepare         here: builds build-gpu/ (Release: tests, benchmarks, CUDA library),
#                                          copies what runs there into gpu-run/ (stripped) and the Vulkan
#                                          loader's .deb files into .gl/
#   then, with the device tool, in the repository root there, carrying [".gl", "gpu-run"]:
#   scripts/gpu_session.sh tests [FILTER]  every test program, one test per process (NVIDIA's driver refuses
#                                          an eighth vkCreateInstance in one process), on the NVIDIA device
#   scripts/gpu_session.sh demo            ntbridge demo with GPU and with CPU synchronisation, with the CUDA
#                                          consumer, against the fd baseline (scripts/demo_baseline.sh), and
#                                          the example Vulkan to CUDA
#   scripts/gpu_session.sh bench           the memory and sync benchmarks (JSON)
#   scripts/gpu_session.sh bench-sync      the semaphore and fence set of issues 12 and 13 (about 6 minutes):
#                                          handoffs between processes (host, queue, GPU -> GPU) and Vulkan ->
#                                          CUDA, each through the layer against the driver's opaque fd, then
#                                          export / import / free and 10 000 live semaphores; JSON and
#                                          summary.txt in $OUT (scripts/bench.sh --only sync-gpu)
# Each run command writes its logs and JSON to $OUT (or ./gpu-out) and ends in well under 10 minutes; the
# two-GPU tests (issue 16) need the nvidia-h200-x2 kind and run as part of `tests`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"

loader() {
  # The GPU machine has the NVIDIA driver but no Vulkan loader: the .deb files travel in .gl/.
  if ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in .gl/*.deb; do
      case $f in *validationlayers*) ;; *) dpkg -x "$f" / ;; esac
    done
    ldconfig
  fi
  # The Khronos validation layer, below ntbridge as in every test here (unpacked apart: a package unpacked
  # into / can break that machine). Without it the tests leave it out (NTBRIDGE_TEST_NO_VALIDATION).
  local vvl=(.gl/vulkan-validationlayers_*.deb) extra_layers="" extra_libs=""
  if [ -e "${vvl[0]}" ]; then
    mkdir -p /tmp/ntbridge-vvl && dpkg -x "${vvl[0]}" /tmp/ntbridge-vvl
    extra_layers=:/tmp/ntbridge-vvl/usr/share/vulkan/explicit_layer.d
    extra_libs=:/tmp/ntbridge-vvl/usr/lib/x86_64-linux-gnu
  else
    export NTBRIDGE_TEST_NO_VALIDATION=1
  fi
  # Test programs name their child programs, broker and tool by the build folder's path here (compiled in):
  # that path leads to gpu-run there.
  if [ -s gpu-run/BUILD_DIR ] && [ ! -e "$(cat gpu-run/BUILD_DIR)" ]; then
    mkdir -p "$(dirname "$(cat gpu-run/BUILD_DIR)")" && ln -s "$PWD/gpu-run" "$(cat gpu-run/BUILD_DIR)"
  fi
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  fi
  export VK_ADD_LAYER_PATH=$PWD/gpu-run/layer$extra_layers
  # libntbridge and libntbridge_cuda (the CUDA consumer's plugin and the example need the latter).
  export LD_LIBRARY_PATH=$PWD/gpu-run/lib$extra_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export NTBRIDGE_TEST_DEVICE=${NTBRIDGE_TEST_DEVICE:-NVIDIA} NTBRIDGE_BENCH_DEVICE=${NTBRIDGE_BENCH_DEVICE:-NVIDIA}
  export NTBRIDGE_TEST_KEEP_RUNTIME_DIR=1 NTBRIDGE_STRESS_SECONDS=${NTBRIDGE_STRESS_SECONDS:-20}
  nvidia-smi -L > "$out/machine.txt" 2>&1 || true
  uname -a >> "$out/machine.txt"
}

case "${1:-}" in
  prepare)
    scripts/setup.sh
    cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DNTBRIDGE_BUILD_TESTS=ON \
      -DNTBRIDGE_BUILD_BENCHMARKS=ON -DNTBRIDGE_SANITIZE=
    cmake --build build-gpu -j"$(nproc)"
    rm -rf gpu-run && mkdir -p gpu-run
    cp -a build-gpu/layer gpu-run/layer
    # Every program under tests/ and bench/, and the tool, in the folders ctest runs them from (test programs
    # find their child programs there).
    (cd build-gpu && find tests bench src/tool examples -type f -perm -u+x ! -name '*.so' ! -path '*/CMakeFiles/*' \
       -exec cp --parents {} ../gpu-run/ \;)
    # The demo's CUDA consumer beside the tool, which looks for it there; the libraries in gpu-run/lib.
    cp build-gpu/src/tool/ntbridge_demo_cuda.so gpu-run/src/tool/ 2>/dev/null || true
    mkdir -p gpu-run/lib && cp -a build-gpu/src/lib/libntbridge*.so* gpu-run/lib/
    mkdir -p gpu-run/runtime
    cp -a build-gpu/bench/lib gpu-run/bench/ 2>/dev/null || true
    find gpu-run -type f -perm -u+x -exec strip --strip-unneeded {} \; 2>/dev/null || true
    cp scripts/gtest_each.sh gpu-run/
    git describe --always --dirty > gpu-run/COMMIT 2>/dev/null || true  # machine.txt of bench-sync names it
    echo "$PWD/build-gpu" > gpu-run/BUILD_DIR
    du -sh gpu-run
    if [ ! -d .gl ] || [ -z "$(ls .gl/*.deb 2>/dev/null)" ]; then
      mkdir -p .gl /tmp/amd64/partial
      o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
      # shellcheck disable=SC2086
      apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 vulkan-validationlayers)
    fi
    echo "ready: run 'scripts/gpu_session.sh tests' (then demo, bench) on the GPU machine, carrying .gl and gpu-run"
    ;;
  tests)
    loader
    filter=${2:-*}
    status=0
    each=$PWD/gpu-run/gtest_each.sh
    for bin in $(cd gpu-run && find tests -type f -perm -u+x -name '*_tests' | sort); do
      (cd "gpu-run/$(dirname "$bin")" && "$each" "./$(basename "$bin")" "$filter") >> "$out/tests.log" 2>&1 ||
        status=1
    done
    grep -E "passed, .* failed" "$out/tests.log" || true
    exit $status
    ;;
  demo)
    loader
    gpu-run/src/tool/ntbridge demo --frames 300 2>&1 | tee "$out/demo-gpu.log"
    gpu-run/src/tool/ntbridge demo --frames 300 --sync cpu 2>&1 | tee "$out/demo-cpu.log" || true
    gpu-run/src/tool/ntbridge demo --frames 900 --consumer cuda 2>&1 | tee "$out/demo-cuda.log" || true
    scripts/demo_baseline.sh --tool gpu-run/src/tool/ntbridge --rounds 5 --frames 3000 2>&1 |
      tee "$out/demo-baseline.log" || true
    gpu-run/examples/vulkan_to_cuda 2>&1 | tee "$out/example-vulkan-to-cuda.log" || true
    ;;
  bench)
    loader
    for b in gpu-run/bench/ntbridge_bench_sync gpu-run/bench/ntbridge_bench_ops; do
      [ -x "$b" ] || continue
      "$b" --benchmark_repetitions=5 --benchmark_out="$out/$(basename "$b").json" --benchmark_out_format=json \
        2>&1 | tail -40
    done
    ;;
  bench-sync)
    loader
    # --no-install: this machine reaches no package mirror. bench.sh keeps each part within its limit.
    scripts/bench.sh --no-build --no-install --build-dir gpu-run --reps "${REPS:-10}" --only sync-gpu "$out"
    ;;
  *)
    sed -n 2,19p "$0"
    exit 64
    ;;
esac
