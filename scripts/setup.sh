#!/usr/bin/env bash
# Installs what ntbridge needs on Debian 12 (skips apt-get when everything is already there).
#   scripts/setup.sh [PACKAGE...]          the build's packages, and these too
#   scripts/setup.sh --only PACKAGE...     these alone (scripts/bench.sh: matplotlib on a run-only machine)
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config python3
  libxcb1-dev xvfb
  libvulkan-dev libvulkan-volk-dev vulkan-validationlayers mesa-vulkan-drivers vulkan-tools
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev
  clang libclang-rt-dev
)
if [ "${1:-}" = "--only" ]; then
  shift
  packages=()
fi
packages+=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
