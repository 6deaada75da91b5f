#include "self_pid.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

namespace ntbridge {
namespace {

// What a child said: SelfPid() and the kernel's getpid, as the child saw them.
struct Seen {
  pid_t self_pid = -1;
  pid_t kernel_pid = -1;
};

// fork(2) as the bare system call: no pthread_atfork handler runs, in the parent or in the child.
pid_t RawClone() {
  return static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr));
}

// Starts a child with `spawn` (returns 0 in the child, its pid in the parent, -1 on failure) after this
// process has cached its pid, and returns what the child saw. The child only calls SelfPid, write and _exit:
// a child made without fork's handlers must not touch locks another thread may have held.
template <typename Spawn>
void SeenByChild(Spawn spawn, pid_t* child_pid, Seen* seen) {
  ASSERT_EQ(SelfPid(), getpid());  // cached here first: a child starts with the parent's memory
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const pid_t child = spawn();
  if (child == 0) {
    const Seen mine{SelfPid(), static_cast<pid_t>(syscall(SYS_getpid))};
    const bool sent = write(fds[1], &mine, sizeof mine) == static_cast<ssize_t>(sizeof mine);
    _exit(sent ? 0 : 1);
  }
  close(fds[1]);
  ASSERT_GT(child, 0) << "the child could not be made";
  *child_pid = child;
  const ssize_t got = read(fds[0], seen, sizeof *seen);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof *seen));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// clone(2) called directly runs no pthread_atfork handler: a cache refreshed only by one would tell the child
// its parent's pid (and the broker client would then reuse its parent's connection).
TEST(SelfPid, ChildOfARawCloneSeesItsOwnPid) {
  pid_t child = 0;
  Seen seen;
  SeenByChild(RawClone, &child, &seen);
  EXPECT_EQ(seen.kernel_pid, child);
  EXPECT_EQ(seen.self_pid, child) << "SelfPid() in the child returned the parent's pid " << getpid();
  EXPECT_EQ(SelfPid(), getpid());
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
// glibc's _Fork (2.34) is fork without the atfork handlers.
TEST(SelfPid, ChildOfUnderscoreForkSeesItsOwnPid) {
  pid_t child = 0;
  Seen seen;
  SeenByChild([] { return _Fork(); }, &child, &seen);
  EXPECT_EQ(seen.kernel_pid, child);
  EXPECT_EQ(seen.self_pid, child) << "SelfPid() in the child returned the parent's pid " << getpid();
}
#endif

TEST(SelfPid, ChildOfForkAndItsChildSeeTheirOwnPids) {
  pid_t child = 0;
  Seen seen;
  SeenByChild([] { return fork(); }, &child, &seen);
  EXPECT_EQ(seen.self_pid, child);
  // A grandchild: the child caches its own pid first, then forks without handlers.
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const pid_t middle = fork();
  if (middle == 0) {
    const pid_t own = SelfPid();
    const pid_t grandchild = RawClone();
    if (grandchild == 0) {
      const Seen mine{SelfPid(), static_cast<pid_t>(syscall(SYS_getpid))};
      _exit(write(fds[1], &mine, sizeof mine) == static_cast<ssize_t>(sizeof mine) ? 0 : 1);
    }
    int status = 0;
    const bool ok = own == getpid() && grandchild > 0 && waitpid(grandchild, &status, 0) == grandchild &&
                    WIFEXITED(status) && WEXITSTATUS(status) == 0 && SelfPid() == getpid();
    _exit(ok ? 0 : 1);
  }
  close(fds[1]);
  ASSERT_GT(middle, 0);
  Seen grand;
  const ssize_t got = read(fds[0], &grand, sizeof grand);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(middle, &status, 0), middle);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the middle child saw a wrong pid";
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof grand));
  EXPECT_EQ(grand.self_pid, grand.kernel_pid);
  EXPECT_NE(grand.self_pid, middle);
}

TEST(SelfPid, ThreadsShareTheProcessPid) {
  pid_t seen = 0;
  std::thread([&] { seen = SelfPid(); }).join();
  EXPECT_EQ(seen, getpid());
}

}  // namespace
}  // namespace ntbridge
