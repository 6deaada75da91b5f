// Starting ntbridge_validation_child (beside the test program) in a new process, so that the layer reads its
// settings afresh: the settings tests of memory (test_settings.cpp) and of semaphores and fences
// (test_sync_settings.cpp).
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace ntbridge::test {

inline constexpr const char* kActionEnv = "VK_NTBRIDGE_EXTERNAL_WIN32_VALIDATION_ACTION";

struct Outcome {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

inline std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the child with `mode`; VK_LAYER_SETTINGS_PATH is `dir`, which also keeps the child's stdout and
// stderr; the action variable is set only when `action` is given.
inline Outcome RunValidationChild(const std::filesystem::path& dir, const std::string& mode,
                                  std::optional<std::string> action = std::nullopt) {
  namespace fs = std::filesystem;
  const fs::path program = fs::read_symlink("/proc/self/exe").parent_path() / "ntbridge_validation_child";
  const fs::path out = dir / "stdout", err = dir / "stderr";
  pid_t pid = fork();
  if (pid == 0) {
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    setenv("VK_LAYER_SETTINGS_PATH", dir.c_str(), 1);
    if (action) {
      setenv(kActionEnv, action->c_str(), 1);
    } else {
      unsetenv(kActionEnv);
    }
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(o, 1);
    dup2(e, 2);
    execl(program.c_str(), program.c_str(), mode.c_str(), nullptr);
    _exit(127);
  }
  Outcome result;
  int status = 0;
  if (waitpid(pid, &status, 0) == pid) {
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  result.out = ReadAll(out);
  result.err = ReadAll(err);
  return result;
}

}  // namespace ntbridge::test
