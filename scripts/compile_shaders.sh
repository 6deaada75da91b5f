#!/usr/bin/env bash
# Compiles the tool's shaders (src/tool/shaders/*.comp) into the SPIR-V headers committed beside them, so that
# building ntbridge needs no shader compiler. Run after changing a shader; needs glslangValidator (Debian:
# glslang-tools) and checks the result with spirv-val (spirv-tools) where present.
#   scripts/compile_shaders.sh           rewrite the headers
#   scripts/compile_shaders.sh --check   fail if a committed header is not what its shader compiles to
set -euo pipefail
check=0
[ "${1:-}" = "--check" ] && check=1
cd "$(dirname "$0")/../src/tool/shaders"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for shader in *.comp; do
  base="${shader%.comp}"
  symbol="k$(echo "$base" | sed -E 's/(^|_)([a-z])/\U\2/g')Spirv"  # frame_check -> kFrameCheckSpirv
  glslangValidator -V --target-env vulkan1.1 --vn "$symbol" -o "$work/words.h" "$shader" >/dev/null
  if command -v spirv-val >/dev/null; then
    glslangValidator -V --target-env vulkan1.1 -o "$work/$base.spv" "$shader" >/dev/null
    spirv-val --target-env vulkan1.1 "$work/$base.spv"
  fi
  {
    echo "// Generated from ${shader} by scripts/compile_shaders.sh; do not edit."
    echo "// clang-format off"
    echo "#pragma once"
    echo "#include <cstdint>"
    grep -v -e '^\s*#pragma once' -e '^\s*// [0-9]' "$work/words.h"
    echo "// clang-format on"
  } >"$work/${base}_spv.h"
  if [ "$check" = 1 ]; then
    if ! cmp -s "$work/${base}_spv.h" "${base}_spv.h"; then
      echo "src/tool/shaders/${base}_spv.h is not what ${shader} compiles to: run scripts/compile_shaders.sh" >&2
      status=1
    fi
  else
    cp "$work/${base}_spv.h" "${base}_spv.h"
    echo "compiled ${shader} -> ${base}_spv.h (${symbol})"
  fi
done
exit $status
