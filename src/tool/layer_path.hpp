// Finding the layer's manifest before the first instance is created.
#pragma once

#include <string>

namespace ntbridge::tool {

// When VK_ADD_LAYER_PATH is unset, points it at the first folder holding VkLayer_ntbridge_external_win32.json
// of: <tool>/../share/vulkan/explicit_layer.d (an installed tool), then the build tree's layer folder (a tool
// run from its build tree). Otherwise leaves the environment alone. Returns the folder used, or "" when the
// loader is left to find the layer in its standard places.
std::string EnsureLayerPath();

}  // namespace ntbridge::tool
