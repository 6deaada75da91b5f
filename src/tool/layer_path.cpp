#include "layer_path.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace ntbridge::tool {

namespace fs = std::filesystem;

std::string EnsureLayerPath() {
  if (const char* set = std::getenv("VK_ADD_LAYER_PATH"); set != nullptr && *set != '\0') return set;
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (error) return "";
  const fs::path candidates[] = {
      self.parent_path() / ".." / "share" / "vulkan" / "explicit_layer.d",
      fs::path(NTBRIDGE_BUILD_LAYER_DIR),
  };
  for (const fs::path& folder : candidates) {
    if (fs::exists(folder / "VkLayer_ntbridge_external_win32.json", error)) {
      const std::string path = fs::weakly_canonical(folder, error).string();
      // Child processes (the demo's consumer) inherit it.
      setenv("VK_ADD_LAYER_PATH", path.c_str(), 1);
      return path;
    }
  }
  return "";
}

}  // namespace ntbridge::tool
