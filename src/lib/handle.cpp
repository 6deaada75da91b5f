// Win32-style handle helpers and NtHandle (include/ntbridge/handle.h, handle.hpp).
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <ntbridge/handle.hpp>
#include <system_error>

namespace {

std::system_error Failure(const char* what) {
  return std::system_error(errno, std::generic_category(), what);
}

}  // namespace

extern "C" {

int ntbridge_HandleToFd(HANDLE handle) {
  const auto value = reinterpret_cast<intptr_t>(handle);
  if (handle == nullptr || handle == INVALID_HANDLE_VALUE || value < 0 || value > INT_MAX) return -1;
  return static_cast<int>(value);
}

HANDLE ntbridge_FdToHandle(int fd) { return reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd)); }

BOOL ntbridge_CloseHandle(HANDLE handle) {
  const int fd = ntbridge_HandleToFd(handle);
  if (fd < 0) {
    errno = EBADF;
    return FALSE;
  }
  // Linux closes the descriptor even when close() reports EINTR: never retry.
  return close(fd) == 0 || errno == EINTR ? TRUE : FALSE;
}

BOOL ntbridge_DuplicateHandle(HANDLE source, HANDLE* target, BOOL inherit) {
  const int fd = ntbridge_HandleToFd(source);
  if (fd < 0 || target == nullptr) {
    errno = fd < 0 ? EBADF : EINVAL;
    return FALSE;
  }
  // Start above 0 so that a handle is never NULL, even with stdin closed.
  const int copy = fcntl(fd, inherit ? F_DUPFD : F_DUPFD_CLOEXEC, 1);
  if (copy < 0) return FALSE;
  *target = ntbridge_FdToHandle(copy);
  return TRUE;
}

BOOL ntbridge_GetHandleInformation(HANDLE handle, DWORD* flags) {
  const int fd = ntbridge_HandleToFd(handle);
  if (fd < 0 || flags == nullptr) {
    errno = fd < 0 ? EBADF : EINVAL;
    return FALSE;
  }
  const int fd_flags = fcntl(fd, F_GETFD);
  if (fd_flags < 0) return FALSE;
  *flags = (fd_flags & FD_CLOEXEC) ? 0 : HANDLE_FLAG_INHERIT;
  return TRUE;
}

BOOL ntbridge_SetHandleInformation(HANDLE handle, DWORD mask, DWORD flags) {
  const int fd = ntbridge_HandleToFd(handle);
  if (fd < 0 || (mask & ~HANDLE_FLAG_INHERIT) != 0) {
    errno = fd < 0 ? EBADF : EINVAL;
    return FALSE;
  }
  if ((mask & HANDLE_FLAG_INHERIT) == 0) return TRUE;
  int fd_flags = fcntl(fd, F_GETFD);
  if (fd_flags < 0) return FALSE;
  fd_flags = (flags & HANDLE_FLAG_INHERIT) ? (fd_flags & ~FD_CLOEXEC) : (fd_flags | FD_CLOEXEC);
  return fcntl(fd, F_SETFD, fd_flags) == 0 ? TRUE : FALSE;
}

BOOL ntbridge_CompareObjectHandles(HANDLE first, HANDLE second) {
  const int a = ntbridge_HandleToFd(first);
  const int b = ntbridge_HandleToFd(second);
  struct stat sa {};
  struct stat sb {};
  if (a < 0 || b < 0 || fstat(a, &sa) != 0 || fstat(b, &sb) != 0) return FALSE;
  if (S_ISCHR(sa.st_mode) || S_ISCHR(sb.st_mode)) {
    // A device node (NVIDIA's payloads are all /dev/nvidiactl) is one inode for every allocation: only the
    // same open file (a duplicate of the same handle) is known to be the same object. kcmp says so; where it
    // is not available, answer "not the same" rather than guess.
    return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, a, b) == 0 ? TRUE : FALSE;
  }
  // Separate exports of one allocation are separate open files of one inode: compare the object, as
  // Windows does, not the open file (kcmp would).
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino ? TRUE : FALSE;
}

}  // extern "C"

namespace ntbridge {

NtHandle::NtHandle(HANDLE handle) : fd_(ntbridge_HandleToFd(handle)) {}

NtHandle& NtHandle::operator=(NtHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

HANDLE NtHandle::Release() {
  HANDLE handle = get();
  fd_ = -1;
  return handle;
}

void NtHandle::Reset() {
  if (fd_ >= 0) ntbridge_CloseHandle(ntbridge_FdToHandle(std::exchange(fd_, -1)));
}

NtHandle NtHandle::Duplicate(bool inheritable) const {
  HANDLE copy = nullptr;
  if (!ntbridge_DuplicateHandle(get(), &copy, inheritable ? TRUE : FALSE)) throw Failure("DuplicateHandle");
  return NtHandle(copy);
}

bool NtHandle::inheritable() const {
  DWORD flags = 0;
  if (!ntbridge_GetHandleInformation(get(), &flags)) throw Failure("GetHandleInformation");
  return (flags & HANDLE_FLAG_INHERIT) != 0;
}

void NtHandle::set_inheritable(bool inheritable) {
  if (!ntbridge_SetHandleInformation(get(), HANDLE_FLAG_INHERIT, inheritable ? HANDLE_FLAG_INHERIT : 0)) {
    throw Failure("SetHandleInformation");
  }
}

bool NtHandle::SameObject(const NtHandle& other) const {
  return ntbridge_CompareObjectHandles(get(), other.get()) != FALSE;
}

}  // namespace ntbridge
