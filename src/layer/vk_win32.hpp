// The one way the layer includes Vulkan: with the Win32 platform on, over ntbridge's <windows.h>.
#pragma once

#ifndef VK_USE_PLATFORM_WIN32_KHR
#define VK_USE_PLATFORM_WIN32_KHR 1
#endif
#include <vulkan/vk_layer.h>
#include <vulkan/vulkan.h>
