// The CUDA read benchmark's kernel, compiled by nvcc; called from host code built by the C++ compiler.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

// Reads `bytes` (a multiple of 16) at `data`; `out` needs `blocks` entries.
cudaError_t LaunchReadReduce(const void* data, size_t bytes, unsigned int* out, int blocks, int threads,
                             cudaStream_t stream);
