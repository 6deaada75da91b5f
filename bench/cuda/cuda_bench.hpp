// What both CUDA benchmarks (bench_cuda.cpp, bench_cuda_sync.cpp) share: a CUDA error ends the run, and the
// context lines of their JSON that say which CUDA and Vulkan devices were measured.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <string>

#include "bench_vk.hpp"  // Die, MachineDescription

namespace ntbridge::bench {

inline void CudaCheck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) Die(std::string(what) + ": " + cudaGetErrorString(e));
}

inline void AddCudaContext(const cudaDeviceProp& prop, const std::string& vk_device,
                           const std::string& vk_driver) {
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  benchmark::AddCustomContext("cuda_device", prop.name);
  benchmark::AddCustomContext("cuda_runtime_driver",
                              std::to_string(runtime) + " / " + std::to_string(driver));
  benchmark::AddCustomContext("vk_device", vk_device);
  benchmark::AddCustomContext("vk_driver", vk_driver);
  benchmark::AddCustomContext("machine", MachineDescription());
}

}  // namespace ntbridge::bench
