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

}  // namespace
}  // namespace ntbridge::tool
