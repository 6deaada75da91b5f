#!/usr/bin/env bash
# Configures a build folder for one purpose. Every cache option a purpose depends on is set here, every time:
# CMake keeps a cached value until it is set again, so a folder configured for one purpose (the demo builds
# without tests) must not silently change what another purpose (the tests) gets from the same folder.
# Usage: scripts/configure.sh demo|test|tsan|asan|fuzz [BUILD_DIR] [more cmake arguments]
#   demo  build/       the layer, broker, library and tool; no tests
#   test  build/       everything, with the tests
#   tsan  build-tsan/  ThreadSanitizer, with the tests
#   asan  build-asan/  AddressSanitizer + UBSan (Debug), with the tests
#   fuzz  build-fuzz/  the libFuzzer targets (clang), no tests
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
purpose=${1:?usage: scripts/configure.sh demo|test|tsan|asan|fuzz [BUILD_DIR] [cmake arguments]}
shift
dir=""
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
  dir=$1
  shift
fi

build_type=RelWithDebInfo tests=ON fuzzers=OFF sanitize=""
case $purpose in
  demo) tests=OFF default_dir=build ;;
  test) default_dir=build ;;
  tsan) sanitize=thread default_dir=build-tsan ;;
  asan) build_type=Debug sanitize=address,undefined default_dir=build-asan ;;
  fuzz)
    tests=OFF fuzzers=ON sanitize=fuzzer-no-link,address,undefined default_dir=build-fuzz
    export CC=clang CXX=clang++  # read on the folder's first configure only
    ;;
  *)
    echo "configure.sh: unknown purpose '$purpose' (demo, test, tsan, asan or fuzz)" >&2
    exit 2
    ;;
esac
dir=${dir:-$root/$default_dir}
# Ninja for a new folder; a folder configured before keeps its generator (the README's install command uses
# CMake's default), since CMake refuses to change it and the scripts build through `cmake --build`.
generator=(-G Ninja)
[ -f "$dir/CMakeCache.txt" ] && generator=()

exec cmake -S "$root" -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" -DNTBRIDGE_BUILD_TESTS="$tests" \
  -DNTBRIDGE_BUILD_FUZZERS="$fuzzers" -DNTBRIDGE_BUILD_BENCHMARKS=OFF -DNTBRIDGE_SANITIZE="$sanitize" \
  -DNTBRIDGE_WITH_CUDA=AUTO "$@"
