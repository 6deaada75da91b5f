#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job: `ntbridge demo`, a producer and a consumer process sharing
# Vulkan memory and timeline semaphores through Win32 handles three ways (NT handle, KMT value, name),
# synchronised GPU to GPU (the default, --sync gpu), every frame checked.
# Arguments go to `ntbridge demo` (see `build/src/tool/ntbridge demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/configure.sh demo >/dev/null  # every option it needs: build/ may be configured for the tests
cmake --build build -j"$(nproc)"
export VK_ADD_LAYER_PATH="$PWD/build/layer${VK_ADD_LAYER_PATH:+:$VK_ADD_LAYER_PATH}"
exec build/src/tool/ntbridge demo "$@"
