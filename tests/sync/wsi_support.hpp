// Test support for the WSI acquire/present pair with Win32 semaphores and fences: an X server of the test's
// own (Xvfb, on a display number it picks itself), a window on it, and a swapchain presenting to it through
// VK_KHR_xcb_surface, whose presented pixels the test reads back from the X server.
#pragma once

#include <sys/types.h>
#include <xcb/xcb.h>

#include <string>
#include <vector>

#include "sync_support.hpp"

// After vulkan.h (sync_support.hpp): the xcb platform's types.
#include <vulkan/vulkan_xcb.h>

namespace ntbridge::test {

// Xvfb started with -displayfd, so that it takes the first free display number and says which; ended with
// SIGTERM when this is destroyed.
class Xvfb {
 public:
  Xvfb();
  ~Xvfb();
  Xvfb(const Xvfb&) = delete;
  Xvfb& operator=(const Xvfb&) = delete;

  bool installed = false;  // an Xvfb program is on PATH
  bool ok() const { return !display.empty(); }
  std::string display;  // ":N" once the server accepts connections
  std::string error;

 private:
  pid_t pid_ = -1;
};

// Whether libxcb.so.1 could be opened (it is opened at run time); else `why` says what failed.
bool XcbLoaded(std::string* why);

// The instance and device extensions WSI needs (SyncDeviceOptions).
SyncDeviceOptions WsiDeviceOptions();

// A 64x64 window on `display` and a FIFO swapchain of B8G8R8A8 images for it, on `s`'s device. Images are
// cleared to a colour with transfer commands (the test chooses which semaphores order them).
class WsiWindow {
 public:
  WsiWindow(SyncDevice& s, const std::string& display);
  ~WsiWindow();
  WsiWindow(const WsiWindow&) = delete;
  WsiWindow& operator=(const WsiWindow&) = delete;

  bool ok() const { return swapchain != VK_NULL_HANDLE; }
  std::string error;
  // Whether a failure to set up is the device's (it cannot present to this X server, as NVIDIA's driver
  // cannot to Xvfb), so the test skips, rather than a failure to report.
  bool unsupported = false;

  // vkAcquireNextImageKHR, or vkAcquireNextImage2KHR (device mask 1) when `acquire2`.
  VkResult Acquire(bool acquire2, VkSemaphore semaphore, VkFence fence, uint32_t* index);
  VkResult Present(uint32_t index, const std::vector<VkSemaphore>& waits);
  // Commands that clear image `index` to 0x00RRGGBB (each channel 0x00 or 0xFF, which read back the same from
  // UNORM and SRGB images) and leave it ready to present.
  VkCommandBuffer Clear(uint32_t index, uint32_t rgb);
  // The window's centre pixel as the X server shows it now, 0x00RRGGBB.
  uint32_t Pixel();
  // Polls Pixel() until it is `rgb` or 3 s passed; returns the last value read.
  uint32_t AwaitPixel(uint32_t rgb);

  VkSurfaceKHR surface = VK_NULL_HANDLE;
  VkSwapchainKHR swapchain = VK_NULL_HANDLE;
  std::vector<VkImage> images;

 private:
  SyncDevice& s_;
  xcb_connection_t* connection_ = nullptr;
  xcb_window_t window_ = 0;
  CommandRecorder recorder_;
};

}  // namespace ntbridge::test
