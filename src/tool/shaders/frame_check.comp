// The demo's Vulkan consumer checks a frame on its GPU: the checksum of demo_frames.hpp's WordChecksum over
// one slot of the shared ring, written to sums[2 * sum_index] (low half) and sums[2 * sum_index + 1] (high
// half), which must be zero before the dispatch. Compiled into frame_check_spv.h by
// scripts/compile_shaders.sh; the build does not need a shader compiler.
#version 450

layout(local_size_x = 128) in;  // the least maxComputeWorkGroupSize[0] a device may have

layout(std430, set = 0, binding = 0) readonly buffer Ring { uint words[]; } ring;
layout(std430, set = 0, binding = 1) buffer Sums { uint sums[]; } result;
layout(push_constant) uniform Slot {
  uint first_word;  // the slot's first word in the ring
  uint word_count;
  uint sum_index;
} slot;

shared uint low[128];
shared uint high[128];

uint Mix(uint x) {  // lowbias32, as demo_frames.cpp
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

void main() {
  uint lo = 0u;
  uint hi = 0u;
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < slot.word_count; i += stride) {
    const uint w = ring.words[slot.first_word + i];
    lo += Mix(w ^ (i * 0x9e3779b9u));
    hi += Mix(w + i * 0x85ebca6bu + 0x632be5abu);
  }
  const uint l = gl_LocalInvocationID.x;
  low[l] = lo;
  high[l] = hi;
  barrier();
  for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
    if (l < s) {
      low[l] += low[l + s];
      high[l] += high[l + s];
    }
    barrier();
  }
  if (l == 0u) {
    atomicAdd(result.sums[2u * slot.sum_index], low[0]);
    atomicAdd(result.sums[2u * slot.sum_index + 1u], high[0]);
  }
}
