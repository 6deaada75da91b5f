// NT handles on Linux (DESIGN.md §2): a HANDLE is a file descriptor that owns a reference to the payload.
#pragma once

#include <sys/stat.h>

#include <string>

#include "vk_win32.hpp"

namespace ntbridge {

// The descriptor a HANDLE stands for, or -1 when the value cannot be one (NULL, INVALID_HANDLE_VALUE,
// negative, above INT_MAX).
int HandleToFd(HANDLE handle);
inline HANDLE FdToHandle(int fd) { return reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd)); }

// Turns a descriptor the driver exported into an NT handle: never 0 (that would read as NULL), close-on-exec
// unless `inheritable`. `driver_fd_is_cloexec`: the driver's descriptors are known to be close-on-exec
// already (IsCloseOnExec of an earlier one), which saves a system call. Returns the descriptor to hand out,
// or -1 with errno set (the input is then closed).
int MakeNtHandle(int driver_fd, bool inheritable, bool driver_fd_is_cloexec);

// Whether FD_CLOEXEC is set on `fd`.
bool IsCloseOnExec(int fd);

// Remembers the kind of descriptor the driver exports, so imports can be recognised as Vulkan memory, and
// says whether such a descriptor identifies its payload (a memfd, a dma-buf) or is shared by every payload of
// the driver (a device node such as NVIDIA's /dev/nvidiactl). `node`, when given, is set to the
// descriptor's st_rdev (the device number of that node; 0 for anything else).
enum class PayloadIdentity { kUnknown, kUnique, kShared };
PayloadIdentity LearnPayloadKind(int driver_fd, uint64_t* node = nullptr);

// Checks that `fd` is an open descriptor of a kind that can carry Vulkan memory of at least `size` bytes.
// On failure returns false and says why in `why`.
bool CheckPayloadFd(int fd, VkDeviceSize size, std::string* why);
// Same, with the result of fstat(fd) already taken (nullptr when it failed, errno telling why).
bool CheckPayloadFd(int fd, const struct stat* st, VkDeviceSize size, std::string* why);

// What to return when the driver handed out no descriptor: VK_ERROR_TOO_MANY_OBJECTS when this process has
// run out of descriptors (drivers then answer success with -1), else VK_ERROR_OUT_OF_HOST_MEMORY.
VkResult NoDescriptorResult();

// The payload's identity (device and inode), equal for every descriptor of the same payload. 0 on failure.
uint64_t PayloadId(int fd);

// Orders two descriptors of this process by their open file description (kcmp(2), KCMP_FILE): 0 when both
// are the same one — a duplicate, or a descriptor that went to another process and came back — else -1 or 1,
// a total order that holds while both descriptions stay open. kIncomparable when the kernel does not answer
// (no kcmp, a seccomp filter, a closed descriptor).
inline constexpr int kIncomparable = 2;
int CompareOpenFileDescriptions(int a, int b);

}  // namespace ntbridge
