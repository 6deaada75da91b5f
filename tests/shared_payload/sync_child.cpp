// The other process of the shared payload's cross-process tests, started with exec and given the payload's
// memfd as an inherited descriptor. It prints "ready" once it holds the payload, then:
//
//   shared_payload_child hold <fd>                          holds it until its stdin closes (or it is killed)
//   shared_payload_child signal <fd> <value> <delay_ms>     signals it after the delay
//   shared_payload_child wait <fd> <value> <consume> <ms>   waits; prints "result <status>"
//   shared_payload_child scribble <fd> <what> <wake>        a hostile writer: maps the page itself (no
//                                                           SyncState), writes garbage (`what`: magic, value,
//                                                           back, all), bumps and wakes the futex if `wake`
//
// Exit status: 0 done, 2 the payload could not be opened, 3 an operation failed, 64 usage.
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "shared_payload/sync_state.hpp"

namespace {

using namespace ntbridge::shared_payload;

// Offsets in the page (the layout of sync_state.cpp, the cross-process ABI of layout version 1).
constexpr size_t kMagicOffset = 0;
constexpr size_t kSeqOffset = 16;
constexpr size_t kValueOffset = 24;

int Scribble(int fd, const std::string& what, bool wake) {
  size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return 3;
  auto* bytes = static_cast<unsigned char*>(map);
  auto word32 = [&](size_t off) {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(bytes + off));
  };
  auto word64 = [&](size_t off) {
    return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(bytes + off));
  };
  std::puts("ready");
  if (what == "magic") {
    word32(kMagicOffset).store(0xbadf00d);
  } else if (what == "value") {
    word64(kValueOffset).store(7);
  } else if (what == "back") {
    word64(kValueOffset).store(0);
  } else if (what == "all") {
    std::memset(bytes, 0xa5, size);
  } else {
    return 64;
  }
  if (wake) {
    word32(kSeqOffset).fetch_add(1);
    syscall(SYS_futex, bytes + kSeqOffset, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
  munmap(map, size);
  std::puts("done");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  std::string mode = argc > 2 ? argv[1] : "";
  int fd = argc > 2 ? std::atoi(argv[2]) : -1;
  if (mode == "scribble" && argc == 5) return Scribble(fd, argv[3], std::atoi(argv[4]) != 0);

  std::string error;
  std::shared_ptr<SyncState> state = fd >= 0 ? SyncState::Open(fd, &error) : nullptr;
  if (!state) {
    std::fprintf(stderr, "child: %s\n", error.c_str());
    return 2;
  }
  close(fd);  // the state keeps its own descriptor
  if (mode == "hold" && argc == 3) {
    std::puts("ready");
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
  }
  if (mode == "signal" && argc == 5) {
    std::puts("ready");
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(argv[4])));
    if (state->Signal(std::strtoull(argv[3], nullptr, 0), &error) != Status::kOk) {
      std::fprintf(stderr, "child: %s\n", error.c_str());
      return 3;
    }
    std::puts("signalled");
    return 0;
  }
  if (mode == "wait" && argc == 6) {
    std::puts("ready");
    auto deadline = Clock::now() + std::chrono::milliseconds(std::atoi(argv[5]));
    Status s = Wait(*state, std::strtoull(argv[3], nullptr, 0), std::atoi(argv[4]) != 0, deadline, &error);
    std::printf("result %d\n", static_cast<int>(s));
    return 0;
  }
  std::fprintf(stderr,
               "usage: %s hold <fd> | signal <fd> <value> <delay_ms> | wait <fd> <value> <consume> <ms> | "
               "scribble <fd> <magic|value|back|all> <wake>\n",
               argv[0]);
  return 64;
}
