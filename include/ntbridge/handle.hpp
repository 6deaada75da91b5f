// ntbridge: an RAII owner of an NT handle (a file descriptor on Linux, DESIGN.md §2).
#pragma once

#include <ntbridge/handle.h>

#include <utility>

namespace ntbridge {

// Owns one NT handle: closes it on destruction. Move-only; Duplicate() makes a second owner.
// Errors throw std::system_error naming the call that failed.
class NTBRIDGE_API NtHandle {
 public:
  NtHandle() = default;
  // Takes ownership of `handle` (NULL and INVALID_HANDLE_VALUE give an empty owner).
  explicit NtHandle(HANDLE handle);
  static NtHandle FromFd(int fd) { return NtHandle(ntbridge_FdToHandle(fd)); }
  ~NtHandle() { Reset(); }
  NtHandle(NtHandle&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  NtHandle& operator=(NtHandle&& other) noexcept;
  NtHandle(const NtHandle&) = delete;
  NtHandle& operator=(const NtHandle&) = delete;

  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // The handle, still owned here (NULL when empty).
  HANDLE get() const { return valid() ? ntbridge_FdToHandle(fd_) : nullptr; }
  int fd() const { return fd_; }
  // Gives up ownership: the caller closes the returned handle.
  HANDLE Release();
  // Closes the handle now (CloseHandle).
  void Reset();

  // A new owner of the same object; close-on-exec unless `inheritable`.
  NtHandle Duplicate(bool inheritable = false) const;
  bool inheritable() const;
  void set_inheritable(bool inheritable);
  // Same kernel object (CompareObjectHandles).
  bool SameObject(const NtHandle& other) const;

 private:
  int fd_ = -1;
};

}  // namespace ntbridge
