// libFuzzer target: the shared payload (src/layer/shared_payload/) on a page holding anything another process
// of the user could have written there. Open and every operation must return — waits by their short
// deadlines — without crashing, reading outside the page or hanging, and every kCorrupt / kError must say
// why.
//
// Input: byte 0 the kind, byte 1 which operations, bytes 2..9 a value for Signal and the waits, the rest the
// page (the seeds in corpus/sync_state/ are valid pages of each kind).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "shared_payload/sync_state.hpp"

namespace {

using namespace ntbridge::shared_payload;

void Expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "sync_state_fuzzer: %s\n", what);
    std::abort();
  }
}

// Every failure names what was wrong.
void Check(Status s, const std::string& error) {
  Expect(s == Status::kOk || s == Status::kTimeout || !error.empty(), "a failure without a message");
}

void Exercise(SyncState& s, uint8_t ops, uint64_t value, SyncState* other) {
  std::string error;
  uint64_t v = 0;
  bool consumed = false;
  Check(s.Read(&v, &error), error);
  error.clear();
  if (ops & 0x01) Check(s.Signal(value, &error), error);
  error.clear();
  if (ops & 0x02) Check(s.Reset(&error), error);
  error.clear();
  if (ops & 0x04) Check(s.TryConsume(&consumed, &error), error);
  SyncState::Holders h = s.CountHolders();
  Expect(h.live_others >= 0 && h.dead >= 0 && h.live_others + h.dead <= 32, "more holders than slots");

  bool consume = (ops & 0x08) && s.kind() == Kind::kBinarySemaphore;
  WaitItem items[] = {{&s, value, consume, (ops & 0x10) != 0}, {other, value ^ 1, false, false}};
  size_t count = other ? 2 : 1;
  Doorbell bell;
  size_t first = 0;
  for (bool any : {true, false}) {
    error.clear();
    // A deadline in the past polls once; a short one sleeps (only sometimes: it costs a millisecond a run).
    auto deadline =
        (ops & 0xa0) == 0xa0 ? Clock::now() + std::chrono::milliseconds(1) : Clock::time_point::min();
    Status st = WaitMany({items, count}, any, deadline, (ops & 0x40) ? &bell : nullptr, 0, &first, &error);
    Check(st, error);
    Expect(first <= count, "WaitMany's *first out of range");
  }
  error.clear();
  Check(Wait(s, value, consume, Clock::time_point::min(), &error), error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 10) return 0;
  static constexpr Kind kKinds[] = {Kind::kBinarySemaphore, Kind::kTimelineSemaphore, Kind::kFence};
  Kind kind = kKinds[data[0] % 3];
  uint8_t ops = data[1];
  uint64_t value = 0;
  std::memcpy(&value, data + 2, sizeof value);
  data += 10;
  size -= 10;

  std::string error;
  auto created = SyncState::Create(kind, 0, &error);
  Expect(created != nullptr, "Create failed");
  // The fuzzer's bytes go in through a mapping of its own, as another process would write them; the rest of
  // the page keeps what Create wrote.
  size_t page_size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* map = mmap(nullptr, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, created->fd(), 0);
  Expect(map != MAP_FAILED, "mmap failed");
  std::memcpy(map, data, std::min(size, page_size));

  error.clear();
  auto opened = SyncState::Open(created->fd(), &error);
  Expect(opened != nullptr || !error.empty(), "Open failed without a message");
  Exercise(*created, ops, value, opened.get());
  if (opened) Exercise(*opened, static_cast<uint8_t>(ops >> 1 | ops << 7), value, created.get());
  munmap(map, page_size);
  return 0;
}
