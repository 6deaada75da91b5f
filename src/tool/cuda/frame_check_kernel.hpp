// The CUDA consumer's kernel (frame_check.cu, compiled by nvcc), called from host code the C++ compiler
// builds.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ntbridge::tool {

// Adds WordChecksum (demo_frames.hpp) of `count` words at `words` to sums[0] (low half) and sums[1] (high
// half), which the caller zeroes first; `blocks` blocks of kFrameCheckThreads threads, on `stream`.
inline constexpr int kFrameCheckThreads = 256;
cudaError_t LaunchFrameCheck(const uint32_t* words, uint32_t count, uint32_t* sums, int blocks,
                             cudaStream_t stream);

}  // namespace ntbridge::tool
