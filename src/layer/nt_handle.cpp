#include "nt_handle.hpp"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "self_pid.hpp"

namespace ntbridge {
namespace {

// What /proc/self/fd says a descriptor is: "/memfd:name (deleted)", "anon_inode:dmabuf", "/dev/nvidiactl"...
std::string LinkTarget(int fd) {
  char path[64];
  char target[256];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0) return {};
  return std::string(target, static_cast<size_t>(n));
}

std::mutex g_kinds_mutex;
// Kinds every Linux GPU driver uses for opaque fds: memfd (lavapipe, software drivers), dma-buf (Mesa), the
// DRM render nodes (major 226) and NVIDIA's control device (major 195).
std::set<std::string> g_kinds = {"memfd", "anon_inode:dmabuf", "chr:226", "chr:195"};

// Descriptors already recognised as a known kind, by file type and filesystem (for a character device, by
// major number). Every memfd lives on one internal filesystem, so after the first one neither a readlink of
// /proc/self/fd (the costliest step an import could take) nor a string comparison is needed. anon_inode
// descriptors share one filesystem whatever they are, so they are never cached.
struct KindKey {
  mode_t type;
  uint64_t dev;
  bool operator<(const KindKey& o) const { return type != o.type ? type < o.type : dev < o.dev; }
};
std::set<KindKey> g_known_keys;  // guarded by g_kinds_mutex

KindKey KeyOf(const struct stat& st) {
  if (S_ISCHR(st.st_mode)) return {S_IFCHR, major(st.st_rdev)};
  return {st.st_mode & S_IFMT, static_cast<uint64_t>(st.st_dev)};
}

// The kind of a payload descriptor, coarse enough to match every payload of one driver, and whether
// descriptors with the same KindKey are all of that kind.
std::string KindOf(int fd, const struct stat& st, bool* cacheable) {
  *cacheable = false;
  if (S_ISCHR(st.st_mode)) {
    *cacheable = true;
    return "chr:" + std::to_string(major(st.st_rdev));
  }
  std::string t = LinkTarget(fd);
  if (t.rfind("/memfd:", 0) == 0) {
    *cacheable = true;
    return "memfd";
  }
  if (t.rfind("anon_inode:", 0) == 0) return t.substr(0, t.find_first_of(" ("));
  return {};
}

bool IsKnownKind(int fd, const struct stat& st) {
  const KindKey key = KeyOf(st);
  {
    std::lock_guard lock(g_kinds_mutex);
    if (g_known_keys.count(key) != 0) return true;
  }
  bool cacheable = false;
  std::string kind = KindOf(fd, st, &cacheable);
  std::lock_guard lock(g_kinds_mutex);
  const bool known = !kind.empty() && g_kinds.count(kind) != 0;
  if (known && cacheable) g_known_keys.insert(key);
  return known;
}

}  // namespace

int HandleToFd(HANDLE handle) {
  auto value = reinterpret_cast<intptr_t>(handle);
  if (value <= 0 || value > INT_MAX) return -1;
  return static_cast<int>(value);
}

int MakeNtHandle(int driver_fd, bool inheritable, bool driver_fd_is_cloexec) {
  int fd = driver_fd;
  if (fd == 0) {
    // Descriptor 0 would read as a NULL HANDLE: move it.
    fd = fcntl(driver_fd, F_DUPFD_CLOEXEC, 1);
    int saved = errno;
    close(driver_fd);
    if (fd < 0) {
      errno = saved;
      return -1;
    }
    driver_fd_is_cloexec = true;
  }
  if ((inheritable || !driver_fd_is_cloexec) && fcntl(fd, F_SETFD, inheritable ? 0 : FD_CLOEXEC) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

bool IsCloseOnExec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  return flags >= 0 && (flags & FD_CLOEXEC) != 0;
}

PayloadIdentity LearnPayloadKind(int driver_fd, uint64_t* node) {
  struct stat st {};
  if (fstat(driver_fd, &st) != 0) return PayloadIdentity::kUnknown;
  if (node != nullptr) *node = static_cast<uint64_t>(st.st_rdev);
  const PayloadIdentity identity = S_ISCHR(st.st_mode) ? PayloadIdentity::kShared : PayloadIdentity::kUnique;
  bool cacheable = false;
  std::string kind = KindOf(driver_fd, st, &cacheable);
  if (kind.empty()) return identity;
  std::lock_guard lock(g_kinds_mutex);
  g_kinds.insert(kind);
  if (cacheable) g_known_keys.insert(KeyOf(st));
  return identity;
}

bool CheckPayloadFd(int fd, VkDeviceSize size, std::string* why) {
  if (fd < 0) return CheckPayloadFd(fd, nullptr, size, why);
  struct stat st {};
  if (fstat(fd, &st) != 0) return CheckPayloadFd(fd, nullptr, size, why);
  return CheckPayloadFd(fd, &st, size, why);
}

bool CheckPayloadFd(int fd, const struct stat* st, VkDeviceSize size, std::string* why) {
  if (fd < 0) {
    *why = "the value is not a descriptor (NULL, INVALID_HANDLE_VALUE, negative or too large)";
    return false;
  }
  if (st == nullptr) {
    *why = errno == EBADF ? "descriptor " + std::to_string(fd) + " is not open in this process"
                          : "fstat of descriptor " + std::to_string(fd) + " failed: " + std::strerror(errno);
    return false;
  }
  if (!IsKnownKind(fd, *st)) {
    std::string target = LinkTarget(fd);
    *why = "descriptor " + std::to_string(fd) + " (" + (target.empty() ? "unknown" : target) +
           ") is not Vulkan memory exported by a driver";
    return false;
  }
  if (S_ISREG(st->st_mode) && static_cast<VkDeviceSize>(st->st_size) < size) {
    *why = "descriptor " + std::to_string(fd) + " holds " + std::to_string(st->st_size) +
           " bytes, fewer than allocationSize " + std::to_string(size);
    return false;
  }
  return true;
}

VkResult NoDescriptorResult() {
  int probe = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
  if (probe >= 0) {
    close(probe);
    return VK_ERROR_OUT_OF_HOST_MEMORY;
  }
  return (errno == EMFILE || errno == ENFILE) ? VK_ERROR_TOO_MANY_OBJECTS : VK_ERROR_OUT_OF_HOST_MEMORY;
}

uint64_t PayloadId(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return 0;
  return (static_cast<uint64_t>(st.st_dev) << 40) ^ static_cast<uint64_t>(st.st_ino);
}

int CompareOpenFileDescriptions(int a, int b) {
  const pid_t pid = SelfPid();
  const long r = syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b);
  // 0 equal, 1 less, 2 greater: the kernel compares the (obfuscated) addresses of the two struct files.
  if (r == 0) return 0;
  if (r == 1) return -1;
  if (r == 2) return 1;
  return kIncomparable;
}

}  // namespace ntbridge
