// The shared payload between real processes: shared_payload_child (sync_child.cpp), started with exec,
// inherits the payload's memfd and opens it, signals it, waits on it, holds it until killed, or scribbles on
// its page like a hostile process of the same user.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "page_access.hpp"
#include "shared_payload/sync_state.hpp"

namespace ntbridge::test {
namespace {

using namespace shared_payload;

// shared_payload_child with the payload's descriptor inherited; its stdin and stdout are pipes to the test.
class SyncChild {
 public:
  SyncChild(const SyncState& state, std::vector<std::string> args) {
    int inherited = fcntl(state.fd(), F_DUPFD, 3);  // without FD_CLOEXEC: the child gets it
    args.insert(args.begin() + 1, std::to_string(inherited));
    std::vector<char*> argv{const_cast<char*>(NTBRIDGE_SYNC_CHILD)};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(inherited);
    close(in[0]);
    close(out[1]);
    in_ = in[1];
    out_ = out[0];
  }
  ~SyncChild() {
    if (in_ >= 0) close(in_);
    if (out_ >= 0) close(out_);
    if (pid_ > 0 && status_ < 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }
  // The next line of its output ("" on end of output or after `timeout_ms`).
  std::string ReadLine(int timeout_ms = 10000) {
    for (;;) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) <= 0) return "";
      char buf[256];
      ssize_t n = read(out_, buf, sizeof buf);
      if (n <= 0) return "";
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  void CloseInput() {
    close(in_);
    in_ = -1;
  }
  void Kill() { kill(pid_, SIGKILL); }
  int Wait() {
    int status = 0;
    if (status_ < 0 && waitpid(pid_, &status, 0) == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return status_;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int status_ = -1;
  std::string buffer_;
};

TEST(SyncCrossProcess, ASignalInAnotherProcessWakesAWaitHere) {
  auto tl = Make(Kind::kTimelineSemaphore, 0);
  SyncChild child(*tl, {"signal", "7", "100"});
  ASSERT_EQ(child.ReadLine(), "ready");
  std::string error;
  auto t0 = Clock::now();
  EXPECT_EQ(Wait(*tl, 7, false, In(Ms(10000)), &error), Status::kOk) << error;
  EXPECT_LT(MsSince(t0), 2000);
  EXPECT_EQ(child.Wait(), 0);

  auto bin = Make(Kind::kBinarySemaphore, 0);
  SyncChild child2(*bin, {"signal", "0", "50"});
  ASSERT_EQ(child2.ReadLine(), "ready");
  EXPECT_EQ(Wait(*bin, 0, true, In(Ms(10000)), &error), Status::kOk) << error;
  uint64_t v = 9;
  EXPECT_EQ(bin->Read(&v, &error), Status::kOk);
  EXPECT_EQ(v, 0u) << "the wait consumed the other process's signal";
  EXPECT_EQ(child2.Wait(), 0);
}

TEST(SyncCrossProcess, ASignalHereWakesAWaitInAnotherProcess) {
  auto bin = Make(Kind::kBinarySemaphore, 0);
  SyncChild child(*bin, {"wait", "0", "1", "10000"});
  ASSERT_EQ(child.ReadLine(), "ready");
  std::this_thread::sleep_for(Ms(50));
  std::string error;
  ASSERT_EQ(bin->Signal(0, &error), Status::kOk) << error;
  EXPECT_EQ(child.ReadLine(), "result " + std::to_string(static_cast<int>(Status::kOk)));
  EXPECT_EQ(child.Wait(), 0);
  uint64_t v = 9;
  EXPECT_EQ(bin->Read(&v, &error), Status::kOk);
  EXPECT_EQ(v, 0u) << "consumed by the other process";
}

TEST(SyncCrossProcess, AKilledHolderMakesAnInfiniteWaitAbandoned) {
  auto fence = Make(Kind::kFence, 0);
  SyncChild child(*fence, {"hold"});
  ASSERT_EQ(child.ReadLine(), "ready");
  auto h = fence->CountHolders();
  EXPECT_EQ(h.live_others, 1);
  EXPECT_EQ(h.dead, 0);
  std::string error;
  size_t first = 99;
  auto wait = std::async(std::launch::async, [&] {
    WaitItem item{fence.get(), 0, false, false};
    return WaitMany({&item, 1}, true, Clock::time_point::max(), nullptr, 0, &first, &error);
  });
  EXPECT_EQ(wait.wait_for(Ms(300)), std::future_status::timeout) << "a live holder may still signal it";
  // Killed and not reaped yet: a zombie is dead too.
  child.Kill();
  auto killed = Clock::now();
  ASSERT_EQ(wait.wait_for(Ms(5000)), std::future_status::ready);
  EXPECT_LT(MsSince(killed), 1000);
  EXPECT_EQ(wait.get(), Status::kAbandoned);
  EXPECT_EQ(first, 0u);
  EXPECT_NE(error.find("the fence payload 0x"), std::string::npos) << error;
  EXPECT_NE(error.find("process " + std::to_string(child.pid()) + " died"), std::string::npos) << error;
  EXPECT_EQ(child.Wait(), 128 + SIGKILL);
  h = fence->CountHolders();
  EXPECT_EQ(h.live_others, 0);
  EXPECT_EQ(h.dead, 0) << "reported once, the dead holder's slot is freed";
}

TEST(SyncCrossProcess, AKilledHolderIsNotAbandonmentWhileThisProcessMaySignal) {
  auto tl = Make(Kind::kTimelineSemaphore, 0);
  SyncChild child(*tl, {"hold"});
  ASSERT_EQ(child.ReadLine(), "ready");
  child.Kill();
  child.Wait();
  WaitItem item{tl.get(), 1, false, true};
  std::string error;
  size_t first = 0;
  EXPECT_EQ(WaitMany({&item, 1}, true, In(Ms(500)), nullptr, 0, &first, &error), Status::kTimeout) << error;
}

TEST(SyncCrossProcess, AHolderThatExitsCleanlyLeavesItsSlot) {
  auto bin = Make(Kind::kBinarySemaphore, 0);
  SyncChild child(*bin, {"hold"});
  ASSERT_EQ(child.ReadLine(), "ready");
  child.CloseInput();
  EXPECT_EQ(child.Wait(), 0);
  auto h = bin->CountHolders();
  EXPECT_EQ(h.live_others, 0);
  EXPECT_EQ(h.dead, 0);
  std::string error;
  // Nobody died holding it: a plain timeout, not abandonment.
  EXPECT_EQ(Wait(*bin, 0, true, In(Ms(450)), &error), Status::kTimeout) << error;
}

TEST(SyncCrossProcess, AHostileWriterMakesOperationsCorruptAndEndsWaits) {
  struct Case {
    Kind kind;
    uint64_t wait_for;
    const char* what;
    const char* wake;
    const char* expect;
  };
  for (const Case& c : {Case{Kind::kTimelineSemaphore, 100, "magic", "0", "header magic 0xbadf00d"},
                        Case{Kind::kTimelineSemaphore, 100, "back", "1", "its counter 0 went back below 5"},
                        Case{Kind::kBinarySemaphore, 0, "value", "1", "its value 7 is neither"},
                        Case{Kind::kFence, 0, "all", "0", "header magic 0xa5a5a5a5"}}) {
    SCOPED_TRACE(std::string(c.what) + " wake=" + c.wake);
    auto s = Make(c.kind, c.kind == Kind::kTimelineSemaphore ? 5 : 0);
    std::string error;
    auto wait = std::async(std::launch::async, [&] {
      return Wait(*s, c.wait_for, c.kind == Kind::kBinarySemaphore, Clock::time_point::max(), &error);
    });
    std::this_thread::sleep_for(Ms(50));
    SyncChild child(*s, {"scribble", c.what, c.wake});
    ASSERT_EQ(child.ReadLine(), "ready");
    auto written = Clock::now();
    ASSERT_EQ(wait.wait_for(Ms(5000)), std::future_status::ready);
    EXPECT_LT(MsSince(written), 1000);
    EXPECT_EQ(wait.get(), Status::kCorrupt);
    EXPECT_NE(error.find(c.expect), std::string::npos) << error;
    EXPECT_EQ(child.Wait(), 0);
    uint64_t v = 0;
    std::string e2;
    EXPECT_EQ(s->Read(&v, &e2), Status::kCorrupt);
    EXPECT_EQ(s->Signal(200, &e2), Status::kCorrupt);
  }
}

}  // namespace
}  // namespace ntbridge::test
