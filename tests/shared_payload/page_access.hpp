// What the shared payload tests share: a mapping of a payload's page of their own, to write what a hostile or
// broken process would, memfds made almost like a payload, and short helpers.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "shared_payload/sync_state.hpp"

namespace ntbridge::test {

using Ms = std::chrono::milliseconds;

inline shared_payload::Clock::time_point In(Ms ms) { return shared_payload::Clock::now() + ms; }

inline std::shared_ptr<shared_payload::SyncState> Make(shared_payload::Kind kind, uint64_t value) {
  std::string error;
  auto s = shared_payload::SyncState::Create(kind, value, &error);
  EXPECT_NE(s, nullptr) << error;
  return s;
}

inline uint64_t ValueOf(const shared_payload::SyncState& s) {
  uint64_t v = ~0ull;
  std::string error;
  EXPECT_EQ(s.Read(&v, &error), shared_payload::Status::kOk) << error;
  return v;
}

inline int64_t MsSince(shared_payload::Clock::time_point t) {
  return std::chrono::duration_cast<Ms>(shared_payload::Clock::now() - t).count();
}

// The page of layout version 1 at its fixed offsets (the cross-process ABI of sync_state.cpp).
class RawPage {
 public:
  static constexpr size_t kMagic = 0, kVersion = 4, kKind = 8, kCheck = 12, kSeq = 16, kWaiters = 20,
                          kValue = 24, kHolders = 32, kHolderSlots = 32;

  explicit RawPage(int fd) : size_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      std::perror("RawPage: mmap");
      std::abort();  // a test that cannot map a page has nothing to test
    }
    bytes_ = static_cast<unsigned char*>(m);
  }
  ~RawPage() { munmap(bytes_, size_); }
  RawPage(const RawPage&) = delete;
  RawPage& operator=(const RawPage&) = delete;

  unsigned char* bytes() { return bytes_; }
  size_t size() const { return size_; }
  std::atomic_ref<uint32_t> U32(size_t off) {
    return std::atomic_ref(*reinterpret_cast<uint32_t*>(bytes_ + off));
  }
  std::atomic_ref<uint64_t> U64(size_t off) {
    return std::atomic_ref(*reinterpret_cast<uint64_t*>(bytes_ + off));
  }
  std::atomic_ref<int32_t> Holder(size_t i) {
    return std::atomic_ref(*reinterpret_cast<int32_t*>(bytes_ + kHolders + 4 * i));
  }
  int UsedHolderSlots() {
    int n = 0;
    for (size_t i = 0; i < kHolderSlots; ++i) n += Holder(i).load() != 0;
    return n;
  }

 private:
  size_t size_;
  unsigned char* bytes_;
};

// A memfd of `size` bytes with `seals` added (sealing allowed unless `allow_sealing` is false).
inline int MakeMemfd(size_t size, unsigned seals, bool allow_sealing = true) {
  int fd = memfd_create("ntbridge-sync", MFD_CLOEXEC | (allow_sealing ? MFD_ALLOW_SEALING : 0u));
  if (fd < 0) return -1;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0 || (seals && fcntl(fd, F_ADD_SEALS, seals) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace ntbridge::test
