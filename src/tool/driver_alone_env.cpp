#include "driver_alone_env.hpp"

#include <algorithm>

namespace ntbridge::tool {

const std::vector<std::string_view>& LayerVariables() {
  static const std::vector<std::string_view> variables = {
      "VK_INSTANCE_LAYERS",
      "VK_LOADER_LAYERS_ENABLE",
      "VK_LOADER_LAYERS_ALLOW",
      "VK_LOADER_LAYERS_DISABLE",
      "VK_ADD_LAYER_PATH",
      "VK_LAYER_PATH",
      "VK_IMPLICIT_LAYER_PATH",
      "VK_ADD_IMPLICIT_LAYER_PATH",
      // The loader's own log would only be noise in what that process reports when it fails.
      "VK_LOADER_DEBUG",
  };
  return variables;
}

std::vector<std::string> DriverAloneEnvironment(const std::vector<std::string>& environment) {
  std::vector<std::string> out;
  for (const std::string& entry : environment) {
    const std::string_view name = std::string_view(entry).substr(0, entry.find('='));
    const auto& drop = LayerVariables();
    if (std::find(drop.begin(), drop.end(), name) == drop.end()) out.push_back(entry);
  }
  out.push_back("VK_LOADER_LAYERS_DISABLE=~all~");
  return out;
}

}  // namespace ntbridge::tool
