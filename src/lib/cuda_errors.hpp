// libntbridge_cuda's one wording of a failed CUDA call, for memory and semaphores alike.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

namespace ntbridge::cuda_detail {

// Throws CudaImportError: "ntbridge: <what> failed: <error name> (<error string>)[; <advice>]".
[[noreturn]] void Fail(const std::string& what, cudaError_t error, const std::string& advice = {});

}  // namespace ntbridge::cuda_detail
