#include "nt_handle.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

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

// Kinds already read from /proc, by file type and filesystem: every memfd lives on the same internal
// filesystem, so after the first one no readlink is needed (readlink of /proc/self/fd is the costliest step
// of an export or import). anon_inode descriptors share one filesystem whatever they are, so they are not
// cached.
struct KindKey {
  mode_t type;
  dev_t dev;
  bool operator<(const KindKey& o) const { return type != o.type ? type < o.type : dev < o.dev; }
};
std::map<KindKey, std::string> g_kind_cache;  // guarded by g_kinds_mutex

// The kind of a payload descriptor, coarse enough to match every payload of one driver.
std::string KindOf(int fd, const struct stat& st) {
  if (S_ISCHR(st.st_mode)) return "chr:" + std::to_string(major(st.st_rdev));
  const KindKey key{st.st_mode & S_IFMT, st.st_dev};
  {
    std::lock_guard lock(g_kinds_mutex);
    if (auto it = g_kind_cache.find(key); it != g_kind_cache.end()) return it->second;
  }
  std::string t = LinkTarget(fd);
  if (t.rfind("/memfd:", 0) == 0) {
    std::lock_guard lock(g_kinds_mutex);
    g_kind_cache[key] = "memfd";
    return "memfd";
  }
  if (t.rfind("anon_inode:", 0) == 0) return t.substr(0, t.find_first_of(" ("));
  return {};
}

}  // namespace

int HandleToFd(HANDLE handle) {
  auto value = reinterpret_cast<intptr_t>(handle);
  if (value <= 0 || value > INT_MAX) return -1;
  return static_cast<int>(value);
}

int MakeNtHandle(int driver_fd, bool inheritable) {
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
  }
  if (fcntl(fd, F_SETFD, inheritable ? 0 : FD_CLOEXEC) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

void LearnPayloadKind(int driver_fd) {
  struct stat st {};
  if (fstat(driver_fd, &st) != 0) return;
  std::string kind = KindOf(driver_fd, st);
  if (kind.empty()) return;
  std::lock_guard lock(g_kinds_mutex);
  g_kinds.insert(kind);
}

bool CheckPayloadFd(int fd, VkDeviceSize size, std::string* why) {
  if (fd < 0) {
    *why = "the value is not a descriptor (NULL, INVALID_HANDLE_VALUE, negative or too large)";
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    *why = errno == EBADF ? "descriptor " + std::to_string(fd) + " is not open in this process"
                          : "fstat of descriptor " + std::to_string(fd) + " failed: " + std::strerror(errno);
    return false;
  }
  std::string kind = KindOf(fd, st);
  bool known;
  {
    std::lock_guard lock(g_kinds_mutex);
    known = !kind.empty() && g_kinds.count(kind) != 0;
  }
  if (!known) {
    std::string target = LinkTarget(fd);
    *why = "descriptor " + std::to_string(fd) + " (" + (target.empty() ? "unknown" : target) +
           ") is not Vulkan memory exported by a driver";
    return false;
  }
  if (S_ISREG(st.st_mode) && static_cast<VkDeviceSize>(st.st_size) < size) {
    *why = "descriptor " + std::to_string(fd) + " holds " + std::to_string(st.st_size) +
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

}  // namespace ntbridge
