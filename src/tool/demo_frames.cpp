#include "demo_frames.hpp"

#include <algorithm>

namespace ntbridge::tool {

namespace {

uint32_t Mix(uint32_t x) {  // a small integer hash (lowbias32)
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

}  // namespace

FrameOps MakeFrame(uint32_t index, uint64_t size) {
  FrameOps ops;
  const uint64_t words = size / 4;
  ops.base = Mix(index * 2654435761u + 1);
  const uint64_t update_words = ops.update.size();
  ops.update_offset = 4 * (Mix(index ^ 0x5bd1e995u) % (words - update_words + 1));
  for (uint32_t i = 0; i < update_words; ++i) ops.update[i] = Mix(index * 977u + i);
  const uint64_t fill_start = Mix(index + 0x9e3779b9u) % words;
  ops.fill_offset = 4 * fill_start;
  ops.fill_size = 4 * (1 + Mix(index * 31u + 7) % (words - fill_start));
  ops.fill_value = Mix(~index);
  return ops;
}

void ApplyOnCpu(const FrameOps& ops, std::vector<uint32_t>& words) {
  std::fill(words.begin(), words.end(), ops.base);
  std::copy(ops.update.begin(), ops.update.end(),
            words.begin() + static_cast<ptrdiff_t>(ops.update_offset / 4));
  const auto start = words.begin() + static_cast<ptrdiff_t>(ops.fill_offset / 4);
  std::fill(start, start + static_cast<ptrdiff_t>(ops.fill_size / 4), ops.fill_value);
}

uint64_t WordChecksum(const uint32_t* words, size_t count) {
  uint32_t low = 0;
  uint32_t high = 0;
  for (size_t i = 0; i < count; ++i) {
    const uint32_t index = static_cast<uint32_t>(i);
    low += Mix(words[i] ^ (index * 0x9e3779b9u));
    high += Mix(words[i] + index * 0x85ebca6bu + 0x632be5abu);
  }
  return (static_cast<uint64_t>(high) << 32) | low;
}

uint64_t Checksum(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint64_t hash = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

}  // namespace ntbridge::tool
