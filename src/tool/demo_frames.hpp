// The demo's frames: what the producer's GPU writes for frame i, the same computed on the CPU, and the
// checksum both processes compare. Pure functions, no Vulkan.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ntbridge::tool {

// Three transfer commands per frame: fill everything with `base`, update 1 KiB at `update_offset`, fill
// `fill_size` bytes at `fill_offset` with `fill_value`. Offsets and sizes are multiples of 4.
struct FrameOps {
  uint32_t base = 0;
  uint64_t update_offset = 0;
  std::array<uint32_t, 256> update{};
  uint64_t fill_offset = 0;
  uint64_t fill_size = 0;
  uint32_t fill_value = 0;
};

// `size` is a multiple of 4 and at least 4 KiB.
FrameOps MakeFrame(uint32_t index, uint64_t size);
void ApplyOnCpu(const FrameOps& ops, std::vector<uint32_t>& words);
// FNV-1a, 64-bit, over the bytes.
uint64_t Checksum(const void* data, size_t size);
// A checksum a GPU computes in parallel (shaders/frame_check.comp, and a CUDA kernel alike): two 32-bit sums
// that wrap, of a hash of every word with its index; the high sum in the upper half.
uint64_t WordChecksum(const uint32_t* words, size_t count);

}  // namespace ntbridge::tool
