// The environment of the process that asks the Vulkan driver alone (native_query.hpp): whatever way the
// layer was enabled for this process — VK_INSTANCE_LAYERS, VK_LOADER_LAYERS_ENABLE, a manifest installed as
// an implicit layer, a loader override layer written by vkconfig — the loader must put no layer into that
// process's instance.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ntbridge::tool {

// The loader's variables that enable layers or add folders of layer manifests (the Vulkan loader's
// LoaderInterfaceArchitecture.md and LoaderLayerInterface.md): none of them reaches that process.
const std::vector<std::string_view>& LayerVariables();

// `environment` ("NAME=value" entries, as in environ) without LayerVariables(), and with
// VK_LOADER_LAYERS_DISABLE=~all~: an implicit layer is active unless disabled, and this disables every one
// (loader 1.3.234 and later), the layer's own manifest or an override layer listing it alike.
std::vector<std::string> DriverAloneEnvironment(const std::vector<std::string>& environment);

}  // namespace ntbridge::tool
