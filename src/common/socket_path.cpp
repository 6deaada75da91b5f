#include "socket_path.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ntbridge {

std::string BrokerSocketPath(const std::string& override_path) {
  if (!override_path.empty()) return override_path;
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr && runtime[0] == '/') return std::string(runtime) + "/ntbridge/" + kSocketName;
  return "/tmp/ntbridge-" + std::to_string(geteuid()) + "/" + kSocketName;
}

std::string FolderOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool EnsurePrivateFolder(const std::string& folder, std::string* error) {
  if (mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = "cannot create " + folder + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (lstat(folder.c_str(), &st) != 0) {
    *error = "cannot examine " + folder + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = folder + " is not a folder (a link or a file is in its place)";
    return false;
  }
  if (st.st_uid != geteuid()) {
    *error = folder + " belongs to uid " + std::to_string(st.st_uid) + ", not to this user (uid " +
             std::to_string(geteuid()) + ")";
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", st.st_mode & 0777);
    *error = folder + " can be entered by other users (mode " + mode + "); it must be 0700";
    return false;
  }
  return true;
}

}  // namespace ntbridge
