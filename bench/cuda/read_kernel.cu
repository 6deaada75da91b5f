// A read-only reduction: every byte of the buffer is loaded once (16-byte loads, grid-stride).
#include <cstdint>

#include "read_kernel.hpp"

namespace {

__global__ void ReadReduce(const uint4* __restrict__ data, size_t count, unsigned int* __restrict__ out) {
  unsigned int acc = 0;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint4 v = data[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9e3779b9u) out[blockIdx.x] = acc;  // keeps the loads; almost never taken
}

}  // namespace

cudaError_t LaunchReadReduce(const void* data, size_t bytes, unsigned int* out, int blocks, int threads,
                             cudaStream_t stream) {
  ReadReduce<<<blocks, threads, 0, stream>>>(static_cast<const uint4*>(data), bytes / sizeof(uint4), out);
  return cudaGetLastError();
}
