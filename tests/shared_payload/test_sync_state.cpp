// The shared payload (src/layer/shared_payload/sync_state.*) in one process: creating and opening, each
// kind's operations, holders, and pages written by something else. Waits are in test_sync_wait.cpp.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <string>
#include <thread>

#include "page_access.hpp"
#include "shared_payload/sync_state.hpp"

namespace ntbridge::test {
namespace {

using namespace shared_payload;
constexpr unsigned kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

// Open's error for `fd` ("" when it opened).
std::string OpenError(int fd) {
  std::string error;
  auto s = SyncState::Open(fd, &error);
  if (s) return "";
  EXPECT_FALSE(error.empty());
  return error;
}

// A payload-like memfd whose page starts with the first `copy` bytes of a real payload's page of `kind`.
int CopyOfPayload(Kind kind, uint64_t value) {
  auto s = Make(kind, value);
  int fd = MakeMemfd(static_cast<size_t>(sysconf(_SC_PAGESIZE)), kSeals);
  RawPage from(s->fd()), to(fd);
  std::memcpy(to.bytes(), from.bytes(), RawPage::kHolders);
  return fd;
}

// A pid that no process has: a child that has exited and been reaped.
pid_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

// ---- Create and Open ----

TEST(SyncStateCreate, EachKindIsASealedPageWithItsInitialValue) {
  for (auto [kind, value] : {std::pair{Kind::kBinarySemaphore, 1ull},
                             std::pair{Kind::kTimelineSemaphore, 42ull}, std::pair{Kind::kFence, 0ull}}) {
    auto s = Make(kind, value);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->kind(), kind);
    EXPECT_EQ(ValueOf(*s), value);
    EXPECT_NE(fcntl(s->fd(), F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(fcntl(s->fd(), F_GET_SEALS), static_cast<int>(kSeals));
    struct stat st {};
    ASSERT_EQ(fstat(s->fd(), &st), 0);
    EXPECT_EQ(st.st_size, sysconf(_SC_PAGESIZE));
    EXPECT_NE(s->id(), 0u);
  }
  EXPECT_STREQ(KindName(Kind::kTimelineSemaphore), "timeline semaphore");
}

TEST(SyncStateCreate, RefusesBinaryInitialValuesOtherThanZeroOrOne) {
  std::string error;
  EXPECT_EQ(SyncState::Create(Kind::kBinarySemaphore, 2, &error), nullptr);
  EXPECT_NE(error.find("must be 0 (unsignalled) or 1 (signalled)"), std::string::npos) << error;
  EXPECT_EQ(SyncState::Create(static_cast<Kind>(9), 0, &error), nullptr);
  EXPECT_NE(error.find("kind 9"), std::string::npos) << error;
}

TEST(SyncStateOpen, SharesTheStateAndKeepsItsOwnDescriptor) {
  auto a = Make(Kind::kTimelineSemaphore, 3);
  std::string error;
  auto b = SyncState::Open(a->fd(), &error);
  ASSERT_NE(b, nullptr) << error;
  EXPECT_EQ(b->kind(), Kind::kTimelineSemaphore);
  EXPECT_EQ(b->id(), a->id());
  EXPECT_NE(b->fd(), a->fd());
  EXPECT_NE(fcntl(b->fd(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(a->Signal(10, &error), Status::kOk);
  EXPECT_EQ(ValueOf(*b), 10u);
  int fd_a = a->fd();
  b.reset();
  EXPECT_GE(fcntl(fd_a, F_GETFD), 0) << "the descriptor Open was given is not consumed";
  EXPECT_NE(Make(Kind::kFence, 0)->id(), a->id());
}

TEST(SyncStateOpen, RefusesWhatIsNotAPayloadAndSaysWhat) {
  EXPECT_NE(OpenError(-1).find("not open"), std::string::npos);

  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  std::string e = OpenError(pipe_fds[0]);
  EXPECT_NE(e.find("not a memfd (it is a pipe)"), std::string::npos) << e;
  close(pipe_fds[0]);
  close(pipe_fds[1]);

  int sock[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sock), 0);
  e = OpenError(sock[0]);
  EXPECT_NE(e.find("not a memfd (it is a socket)"), std::string::npos) << e;
  close(sock[0]);
  close(sock[1]);

  // A file that is not shared memory cannot carry seals; a shmem file that is not a sealable memfd carries
  // exactly F_SEAL_SEAL.
  int file = open(".", O_TMPFILE | O_RDWR, 0600);
  if (file >= 0) {
    e = OpenError(file);
    EXPECT_TRUE(e.find("not a memfd") != std::string::npos ||
                e.find("seals F_SEAL_SEAL,") != std::string::npos)
        << e;
    close(file);
  }

  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  int fd = MakeMemfd(page, 0, /*allow_sealing=*/false);
  e = OpenError(fd);
  EXPECT_NE(e.find("has seals F_SEAL_SEAL, not exactly F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW"),
            std::string::npos)
      << e;
  close(fd);

  fd = MakeMemfd(page, 0);
  e = OpenError(fd);
  EXPECT_NE(e.find("has seals none"), std::string::npos) << e;
  close(fd);

  fd = MakeMemfd(page, kSeals | F_SEAL_WRITE);
  e = OpenError(fd);
  EXPECT_NE(e.find("F_SEAL_WRITE"), std::string::npos) << e;
  close(fd);

  fd = MakeMemfd(2 * page, kSeals);
  e = OpenError(fd);
  EXPECT_NE(e.find("has size " + std::to_string(2 * page) + ", not one page"), std::string::npos) << e;
  close(fd);

  auto s = Make(Kind::kFence, 0);
  int read_only = open(("/proc/self/fd/" + std::to_string(s->fd())).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(read_only, 0);
  e = OpenError(read_only);
  EXPECT_NE(e.find("read-only"), std::string::npos) << e;
  close(read_only);
}

TEST(SyncStateOpen, RefusesAGarbageHeaderAndSaysWhatIsWrong) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  int fd = MakeMemfd(page, kSeals);  // right size and seals, zero page
  std::string e = OpenError(fd);
  EXPECT_NE(e.find("header magic 0x0, not a ntbridge sync payload"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kBinarySemaphore, 0);
  {
    RawPage p(fd);
    p.U32(RawPage::kVersion).store(2);
  }
  e = OpenError(fd);
  EXPECT_NE(e.find("layout version 2, not 1"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kBinarySemaphore, 0);
  {
    RawPage p(fd);
    p.U32(RawPage::kKind).store(9);
  }
  e = OpenError(fd);
  EXPECT_NE(e.find("kind 9 in its header is none of"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kBinarySemaphore, 0);
  {
    RawPage p(fd);
    p.U32(RawPage::kKind)
        .store(static_cast<uint32_t>(Kind::kFence));  // a valid kind, but not the checked one
  }
  e = OpenError(fd);
  EXPECT_NE(e.find("check word"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kFence, 0);
  {
    RawPage p(fd);
    p.U64(RawPage::kValue).store(5);
  }
  e = OpenError(fd);
  EXPECT_NE(e.find("its value 5 is neither 0 (unsignalled) nor 1 (signalled)"), std::string::npos) << e;
  close(fd);

  fd = CopyOfPayload(Kind::kTimelineSemaphore, 1ull << 40);  // any counter is a valid timeline
  std::string error;
  auto s = SyncState::Open(fd, &error);
  ASSERT_NE(s, nullptr) << error;
  EXPECT_EQ(ValueOf(*s), 1ull << 40);
  close(fd);
}

// ---- Each kind's operations ----

TEST(SyncStateOps, BinarySemaphore) {
  auto s = Make(Kind::kBinarySemaphore, 0);
  std::string error;
  bool consumed = true;
  EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kOk);
  EXPECT_FALSE(consumed);
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);  // the value is ignored
  EXPECT_EQ(ValueOf(*s), 1u);
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 1u);
  EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kOk);
  EXPECT_TRUE(consumed);
  EXPECT_EQ(ValueOf(*s), 0u);
  EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kOk);
  EXPECT_FALSE(consumed);
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);
  EXPECT_EQ(s->Reset(&error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 0u);
  // A consuming wait takes the signal, a plain one leaves it.
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);
  EXPECT_EQ(Wait(*s, 0, false, Clock::time_point::min(), &error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 1u);
  EXPECT_EQ(Wait(*s, 0, true, Clock::time_point::min(), &error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 0u);
  EXPECT_EQ(Wait(*s, 0, true, Clock::time_point::min(), &error), Status::kTimeout);
}

TEST(SyncStateOps, Fence) {
  auto s = Make(Kind::kFence, 0);
  std::string error;
  EXPECT_EQ(Wait(*s, 0, false, Clock::time_point::min(), &error), Status::kTimeout);
  EXPECT_EQ(s->Signal(0, &error), Status::kOk);
  EXPECT_EQ(Wait(*s, 0, false, Clock::time_point::min(), &error), Status::kOk);
  EXPECT_EQ(Wait(*s, 0, false, Clock::time_point::min(), &error), Status::kOk);  // fences stay signalled
  bool consumed = false;
  EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kError);
  EXPECT_NE(error.find("only a binary semaphore"), std::string::npos) << error;
  EXPECT_EQ(Wait(*s, 0, true, Clock::time_point::min(), &error), Status::kError);
  EXPECT_EQ(s->Reset(&error), Status::kOk);
  EXPECT_EQ(ValueOf(*s), 0u);
  EXPECT_EQ(s->Reset(&error), Status::kOk);
}

TEST(SyncStateOps, TimelineNeverGoesBack) {
  auto s = Make(Kind::kTimelineSemaphore, 2);
  std::string error;
  EXPECT_EQ(s->Signal(5, &error), Status::kOk);
  EXPECT_EQ(s->Signal(3, &error), Status::kOk);  // ignored
  EXPECT_EQ(ValueOf(*s), 5u);
  EXPECT_EQ(s->Reset(&error), Status::kError);
  EXPECT_NE(error.find("cannot be reset"), std::string::npos) << error;
  EXPECT_EQ(Wait(*s, 5, false, Clock::time_point::min(), &error), Status::kOk);
  EXPECT_EQ(Wait(*s, 4, false, Clock::time_point::min(), &error), Status::kOk);
  auto t0 = Clock::now();
  EXPECT_EQ(Wait(*s, 6, false, Clock::time_point::min(), &error), Status::kTimeout);
  EXPECT_EQ(Wait(*s, 6, false, Clock::now() - Ms(5), &error), Status::kTimeout);
  EXPECT_LT(MsSince(t0), 50) << "a deadline in the past polls once";
  EXPECT_EQ(s->Signal(UINT64_MAX, &error), Status::kOk);
  EXPECT_EQ(Wait(*s, UINT64_MAX, false, Clock::time_point::min(), &error), Status::kOk);
}

// ---- Holders and abandonment (in one process; test_sync_cross_process.cpp has the real thing) ----

TEST(SyncStateHolders, SlotsAreTakenAndLeft) {
  auto s = Make(Kind::kFence, 0);
  RawPage page(s->fd());
  EXPECT_EQ(page.UsedHolderSlots(), 1);
  {
    std::string error;
    auto o = SyncState::Open(s->fd(), &error);
    EXPECT_EQ(page.UsedHolderSlots(), 2);
    auto h = s->CountHolders();
    EXPECT_EQ(h.live_others, 0) << "this process is not another holder";
    EXPECT_EQ(h.dead, 0);
  }
  EXPECT_EQ(page.UsedHolderSlots(), 1);
  pid_t dead = DeadPid();
  page.Holder(5).store(dead);
  page.Holder(6).store(getppid());  // alive
  auto h = s->CountHolders();
  EXPECT_EQ(h.live_others, 1);
  EXPECT_EQ(h.dead, 1);
  // Garbage in a slot is no process.
  page.Holder(7).store(-42);
  h = s->CountHolders();
  EXPECT_EQ(h.live_others, 1);
  EXPECT_EQ(h.dead, 1);
}

TEST(SyncStateHolders, AFullTableReusesADeadHoldersSlot) {
  auto s = Make(Kind::kFence, 0);
  RawPage page(s->fd());
  pid_t dead = DeadPid();
  for (size_t i = 1; i < RawPage::kHolderSlots; ++i) page.Holder(i).store(i == 9 ? dead : getppid());
  std::string error;
  auto o = SyncState::Open(s->fd(), &error);
  ASSERT_NE(o, nullptr) << error;
  EXPECT_EQ(page.Holder(9).load(), getpid());
  o.reset();
  EXPECT_EQ(page.Holder(9).load(), 0);
}

TEST(SyncStateHolders, AbandonedWhenOnlyDeadOthersHeldIt) {
  auto s = Make(Kind::kBinarySemaphore, 0);
  RawPage page(s->fd());
  pid_t dead = DeadPid();
  page.Holder(3).store(dead);
  std::string error;
  size_t first = 99;
  auto other = Make(Kind::kFence, 0);
  WaitItem items[] = {{other.get(), 0, false, false}, {s.get(), 0, true, false}};
  auto t0 = Clock::now();
  // An infinite wait looks after its first ~200 ms asleep.
  EXPECT_EQ(WaitMany(items, true, Clock::time_point::max(), nullptr, 0, &first, &error), Status::kAbandoned);
  EXPECT_LT(MsSince(t0), 1000);
  EXPECT_EQ(first, 1u);
  EXPECT_NE(error.find("the binary semaphore payload 0x"), std::string::npos) << error;
  EXPECT_NE(error.find("process " + std::to_string(dead) + " died"), std::string::npos) << error;
  // Reported once: the dead holder's slot was freed, so the next wait is a plain wait.
  EXPECT_EQ(page.Holder(3).load(), 0);
  EXPECT_EQ(WaitMany(items, true, In(Ms(450)), nullptr, 0, &first, &error), Status::kTimeout);
  // A finite one after its first ~200 ms asleep.
  page.Holder(3).store(dead);
  t0 = Clock::now();
  EXPECT_EQ(WaitMany(items, true, In(Ms(2000)), nullptr, 0, &first, &error), Status::kAbandoned);
  EXPECT_GE(MsSince(t0), 150);
  EXPECT_LT(MsSince(t0), 1000);
  // Not while this process may still signal it, nor while another holder lives.
  page.Holder(3).store(dead);
  items[1].local_signal_pending = true;
  EXPECT_EQ(WaitMany(items, true, In(Ms(450)), nullptr, 0, &first, &error), Status::kTimeout);
  items[1].local_signal_pending = false;
  page.Holder(4).store(getppid());
  EXPECT_EQ(WaitMany(items, true, In(Ms(450)), nullptr, 0, &first, &error), Status::kTimeout);
}

// ---- A page written by something else ----

TEST(SyncStateCorrupt, EveryOperationChecksThePage) {
  for (Kind kind : {Kind::kBinarySemaphore, Kind::kTimelineSemaphore, Kind::kFence}) {
    auto s = Make(kind, 0);
    RawPage page(s->fd());
    page.U32(RawPage::kMagic).store(0x41414141);
    std::string error;
    uint64_t v = 0;
    bool consumed = false;
    EXPECT_EQ(s->Read(&v, &error), Status::kCorrupt);
    EXPECT_NE(error.find("header magic 0x41414141"), std::string::npos) << error;
    EXPECT_NE(error.find(std::string("the ") + KindName(kind) + " payload"), std::string::npos) << error;
    EXPECT_EQ(s->Signal(1, &error), Status::kCorrupt);
    EXPECT_EQ(s->Reset(&error), Status::kCorrupt);
    EXPECT_EQ(s->TryConsume(&consumed, &error), Status::kCorrupt);
    EXPECT_EQ(Wait(*s, 1, false, Clock::time_point::max(), &error), Status::kCorrupt);
    std::memset(page.bytes(), 0xff, page.size());
    EXPECT_EQ(s->Read(&v, &error), Status::kCorrupt);
    EXPECT_EQ(Wait(*s, 1, false, Clock::time_point::max(), &error), Status::kCorrupt);
  }
}

TEST(SyncStateCorrupt, ValuesOutOfRange) {
  auto bin = Make(Kind::kBinarySemaphore, 0);
  RawPage page(bin->fd());
  page.U64(RawPage::kValue).store(7);
  std::string error;
  uint64_t v = 0;
  EXPECT_EQ(bin->Read(&v, &error), Status::kCorrupt);
  EXPECT_NE(error.find("its value 7 is neither 0 (unsignalled) nor 1 (signalled)"), std::string::npos)
      << error;
  bool consumed = true;
  EXPECT_EQ(bin->TryConsume(&consumed, &error), Status::kCorrupt);
  EXPECT_FALSE(consumed);
  EXPECT_EQ(bin->Reset(&error), Status::kCorrupt);

  auto tl = Make(Kind::kTimelineSemaphore, 10);
  RawPage tpage(tl->fd());
  EXPECT_EQ(ValueOf(*tl), 10u);
  tpage.U64(RawPage::kValue).store(3);
  EXPECT_EQ(tl->Read(&v, &error), Status::kCorrupt);
  EXPECT_NE(error.find("its counter 3 went back below 10"), std::string::npos) << error;
  EXPECT_EQ(tl->Signal(20, &error), Status::kCorrupt);
  EXPECT_EQ(Wait(*tl, 20, false, Clock::time_point::max(), &error), Status::kCorrupt);
}

TEST(SyncStateCorrupt, AWaitEndsWhenThePageIsSpoiledWithoutAWake) {
  auto s = Make(Kind::kTimelineSemaphore, 0);
  RawPage page(s->fd());
  std::thread spoiler([&] {
    std::this_thread::sleep_for(Ms(50));
    page.U32(RawPage::kCheck).fetch_xor(1);  // no seq bump, no FUTEX_WAKE
  });
  std::string error;
  auto t0 = Clock::now();
  EXPECT_EQ(Wait(*s, 1, false, Clock::time_point::max(), &error), Status::kCorrupt);
  EXPECT_LT(MsSince(t0), 1000);
  EXPECT_NE(error.find("check word"), std::string::npos) << error;
  spoiler.join();
  // A hostile waiter count (0 while someone waits) only costs the wake-up its slice.
  page.U32(RawPage::kCheck).fetch_xor(1);
  std::thread signaller([&] {
    std::this_thread::sleep_for(Ms(50));
    page.U32(RawPage::kWaiters).store(0);
    std::string e;
    s->Signal(1, &e);
  });
  t0 = Clock::now();
  EXPECT_EQ(Wait(*s, 1, false, Clock::time_point::max(), &error), Status::kOk) << error;
  EXPECT_LT(MsSince(t0), 1000);
  signaller.join();
}

}  // namespace
}  // namespace ntbridge::test
