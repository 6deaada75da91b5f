// WordChecksum of demo_frames.cpp on the GPU, as shaders/frame_check.comp computes it for the Vulkan
// consumer: two 32-bit sums that wrap, so the order of the additions does not matter.
#include "frame_check_kernel.hpp"

namespace ntbridge::tool {

namespace {

__device__ __forceinline__ uint32_t Mix(uint32_t x) {  // lowbias32, as demo_frames.cpp
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

__global__ void FrameCheck(const uint32_t* __restrict__ words, uint32_t count, uint32_t* __restrict__ sums) {
  uint32_t low = 0;
  uint32_t high = 0;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    const uint32_t w = words[i];
    const uint32_t index = static_cast<uint32_t>(i);
    low += Mix(w ^ (index * 0x9e3779b9u));
    high += Mix(w + index * 0x85ebca6bu + 0x632be5abu);
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    low += __shfl_down_sync(0xffffffffu, low, offset);
    high += __shfl_down_sync(0xffffffffu, high, offset);
  }
  __shared__ uint32_t warp_low[kFrameCheckThreads / 32];
  __shared__ uint32_t warp_high[kFrameCheckThreads / 32];
  const unsigned lane = threadIdx.x % 32;
  const unsigned warp = threadIdx.x / 32;
  if (lane == 0) {
    warp_low[warp] = low;
    warp_high[warp] = high;
  }
  __syncthreads();
  if (warp != 0) return;
  low = lane < blockDim.x / 32 ? warp_low[lane] : 0;
  high = lane < blockDim.x / 32 ? warp_high[lane] : 0;
  for (int offset = 16; offset > 0; offset >>= 1) {
    low += __shfl_down_sync(0xffffffffu, low, offset);
    high += __shfl_down_sync(0xffffffffu, high, offset);
  }
  if (lane == 0) {
    atomicAdd(&sums[0], low);
    atomicAdd(&sums[1], high);
  }
}

}  // namespace

cudaError_t LaunchFrameCheck(const uint32_t* words, uint32_t count, uint32_t* sums, int blocks,
                             cudaStream_t stream) {
  FrameCheck<<<blocks, kFrameCheckThreads, 0, stream>>>(words, count, sums);
  return cudaGetLastError();
}

}  // namespace ntbridge::tool
