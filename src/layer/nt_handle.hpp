// NT handles on Linux (DESIGN.md §2): a HANDLE is a file descriptor that owns a reference to the payload.
#pragma once

#include <string>

#include "vk_win32.hpp"

namespace ntbridge {

// The descriptor a HANDLE stands for, or -1 when the value cannot be one (NULL, INVALID_HANDLE_VALUE,
// negative, above INT_MAX).
int HandleToFd(HANDLE handle);
inline HANDLE FdToHandle(int fd) { return reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd)); }

// Turns a descriptor the driver exported into an NT handle: never 0 (that would read as NULL), close-on-exec
// unless `inheritable`. Returns the descriptor to hand out, or -1 with errno set (the input is then closed).
int MakeNtHandle(int driver_fd, bool inheritable);

// Remembers the kind of descriptor the driver exports, so imports can be recognised as Vulkan memory.
void LearnPayloadKind(int driver_fd);

// Checks that `fd` is an open descriptor of a kind that can carry Vulkan memory of at least `size` bytes.
// On failure returns false and says why in `why`.
bool CheckPayloadFd(int fd, VkDeviceSize size, std::string* why);

// What to return when the driver handed out no descriptor: VK_ERROR_TOO_MANY_OBJECTS when this process has
// run out of descriptors (drivers then answer success with -1), else VK_ERROR_OUT_OF_HOST_MEMORY.
VkResult NoDescriptorResult();

// The payload's identity (device and inode), equal for every descriptor of the same payload. 0 on failure.
uint64_t PayloadId(int fd);

}  // namespace ntbridge
