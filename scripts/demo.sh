#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job: two processes sharing Vulkan memory through Win32 handles.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNTBRIDGE_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
export VK_ADD_LAYER_PATH="$PWD/build/layer${VK_ADD_LAYER_PATH:+:$VK_ADD_LAYER_PATH}"
exec build/examples/share_nt_handle "$@"
