// The demo's frames: every frame's contents differ from the last (so a consumer that sees a stale or partial
// frame reports a mismatch), the commands stay inside the buffer, and the checksum notices one changed byte.
#include <gtest/gtest.h>

#include "demo_frames.hpp"

namespace ntbridge::tool {
namespace {

constexpr uint64_t kSize = 65536;

TEST(DemoFrames, ConsecutiveFramesHaveDifferentChecksums) {
  std::vector<uint32_t> words(kSize / 4);
  uint64_t previous = 0;
  for (uint32_t frame = 0; frame < 500; ++frame) {
    ApplyOnCpu(MakeFrame(frame, kSize), words);
    const uint64_t checksum = Checksum(words.data(), kSize);
    EXPECT_NE(checksum, previous) << "frame " << frame;
    previous = checksum;
  }
}

TEST(DemoFrames, CommandsStayInsideTheBufferAndAreWordAligned) {
  for (uint64_t size : {uint64_t{4096}, kSize, uint64_t{1} << 20}) {
    for (uint32_t frame = 0; frame < 2000; ++frame) {
      const FrameOps ops = MakeFrame(frame, size);
      EXPECT_EQ(ops.update_offset % 4, 0u);
      EXPECT_LE(ops.update_offset + sizeof ops.update, size);
      EXPECT_EQ(ops.fill_offset % 4, 0u);
      EXPECT_EQ(ops.fill_size % 4, 0u);
      EXPECT_GT(ops.fill_size, 0u);
      EXPECT_LE(ops.fill_offset + ops.fill_size, size);
    }
  }
}

TEST(DemoFrames, ChecksumNoticesOneChangedByte) {
  std::vector<uint32_t> words(kSize / 4);
  ApplyOnCpu(MakeFrame(7, kSize), words);
  const uint64_t good = Checksum(words.data(), kSize);
  reinterpret_cast<unsigned char*>(words.data())[kSize - 1] ^= 1;
  EXPECT_NE(Checksum(words.data(), kSize), good);
}

// The GPU consumers compute the same sums in parallel; the demo compares their result with this one for every
// frame, so a shader that disagrees fails every demo test.
TEST(WordChecksum, NoticesAChangedWordTwoSwappedWordsAndAStaleFrame) {
  std::vector<uint32_t> words(kSize / 4);
  ApplyOnCpu(MakeFrame(7, kSize), words);
  const uint64_t good = WordChecksum(words.data(), words.size());
  std::vector<uint32_t> changed = words;
  changed[123] ^= 0x100;
  EXPECT_NE(WordChecksum(changed.data(), changed.size()), good);
  std::vector<uint32_t> swapped = words;
  swapped[0] = 1;
  swapped[1] = 2;
  const uint64_t in_order = WordChecksum(swapped.data(), swapped.size());
  std::swap(swapped[0], swapped[1]);
  EXPECT_NE(WordChecksum(swapped.data(), swapped.size()), in_order) << "the sums must depend on the index";
  ApplyOnCpu(MakeFrame(6, kSize), words);
  EXPECT_NE(WordChecksum(words.data(), words.size()), good);
}

}  // namespace
}  // namespace ntbridge::tool
