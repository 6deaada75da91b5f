// The demo's CUDA consumer, seen from the tool: MakeCudaChecker (demo_consumer.hpp) loads the plugin
// ntbridge_demo_cuda.so (cuda/demo_cuda_plugin.h) with dlopen, so that the ntbridge program needs no CUDA
// runtime; the plugin is built where the CUDA toolkit is found and installed with libntbridge_cuda.
#pragma once

#include <string>
#include <vector>

namespace ntbridge::tool {

// Whether this build has the plugin at all (the CUDA toolkit was found).
bool CudaConsumerBuiltIn();

// Where the plugin is looked for, first first: next to the program (a build tree), then the installed
// library folder (<prefix>/<libdir>/ntbridge).
std::vector<std::string> CudaPluginCandidates();

// The first candidate that exists; throws ToolError saying where it looked when none does (or when the build
// has no plugin). The producer asks before it starts anything, the consumer loads what it finds.
std::string FindCudaPlugin();

}  // namespace ntbridge::tool
