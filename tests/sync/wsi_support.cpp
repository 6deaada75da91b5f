#include "wsi_support.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

namespace ntbridge::test {
namespace {

constexpr uint64_t kAcquireTimeoutNs = 5ull * 1000 * 1000 * 1000;

std::string FindOnPath(const char* program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// libxcb, opened at run time: the test program then starts where it is not installed (the GPU machine has no
// X libraries) and its tests skip, saying so.
struct Xcb {
  decltype(&::xcb_connect) xcb_connect = nullptr;
  decltype(&::xcb_connection_has_error) xcb_connection_has_error = nullptr;
  decltype(&::xcb_create_window) xcb_create_window = nullptr;
  decltype(&::xcb_destroy_window) xcb_destroy_window = nullptr;
  decltype(&::xcb_disconnect) xcb_disconnect = nullptr;
  decltype(&::xcb_flush) xcb_flush = nullptr;
  decltype(&::xcb_generate_id) xcb_generate_id = nullptr;
  decltype(&::xcb_get_image) xcb_get_image = nullptr;
  decltype(&::xcb_get_image_data) xcb_get_image_data = nullptr;
  decltype(&::xcb_get_image_data_length) xcb_get_image_data_length = nullptr;
  decltype(&::xcb_get_image_reply) xcb_get_image_reply = nullptr;
  decltype(&::xcb_get_setup) xcb_get_setup = nullptr;
  decltype(&::xcb_map_window) xcb_map_window = nullptr;
  decltype(&::xcb_screen_next) xcb_screen_next = nullptr;
  decltype(&::xcb_setup_roots_iterator) xcb_setup_roots_iterator = nullptr;
  std::string error;

  Xcb() {
    void* lib = dlopen("libxcb.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = dlerror();
      error = why != nullptr ? why : "dlopen(libxcb.so.1) failed";
      return;
    }
    Load(lib, "xcb_connect", &xcb_connect);
    Load(lib, "xcb_connection_has_error", &xcb_connection_has_error);
    Load(lib, "xcb_create_window", &xcb_create_window);
    Load(lib, "xcb_destroy_window", &xcb_destroy_window);
    Load(lib, "xcb_disconnect", &xcb_disconnect);
    Load(lib, "xcb_flush", &xcb_flush);
    Load(lib, "xcb_generate_id", &xcb_generate_id);
    Load(lib, "xcb_get_image", &xcb_get_image);
    Load(lib, "xcb_get_image_data", &xcb_get_image_data);
    Load(lib, "xcb_get_image_data_length", &xcb_get_image_data_length);
    Load(lib, "xcb_get_image_reply", &xcb_get_image_reply);
    Load(lib, "xcb_get_setup", &xcb_get_setup);
    Load(lib, "xcb_map_window", &xcb_map_window);
    Load(lib, "xcb_screen_next", &xcb_screen_next);
    Load(lib, "xcb_setup_roots_iterator", &xcb_setup_roots_iterator);
  }
  template <typename F>
  void Load(void* lib, const char* name, F* f) {
    *f = reinterpret_cast<F>(dlsym(lib, name));
    if (*f == nullptr && error.empty()) error = std::string("libxcb.so.1 has no ") + name;
  }
};

const Xcb& X() {
  static const Xcb xcb;
  return xcb;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Xvfb::Xvfb() {
  const std::string program = FindOnPath("Xvfb");
  if (program.empty()) {
    error = "Xvfb is not on PATH";
    return;
  }
  installed = true;
  // -displayfd: the server takes the first free display number and writes it to this descriptor once it
  // accepts connections, so tests running at the same time never race for a number.
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    error = std::string("pipe2: ") + std::strerror(errno);
    return;
  }
  // Above 3, so that dup2 onto 3 clears close-on-exec.
  const int writer = fcntl(p[1], F_DUPFD_CLOEXEC, 10);
  close(p[1]);
  char log_path[] = "/tmp/ntbridge-xvfb-XXXXXX";
  const int log = mkostemp(log_path, O_CLOEXEC);
  const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<std::string> args = {program, "-displayfd", "3",         "-screen",
                                   "0",     "640x480x24", "-nolisten", "tcp"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // Exec at once (async-signal-safe calls only). The server ends with this process, however it ends (a
    // crash, ctest's timeout), rather than outliving the test.
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(126);
    dup2(null, 0);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    dup2(writer, 3);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const int fork_error = errno;
  close(writer);
  if (null >= 0) close(null);
  if (pid_ < 0) {
    error = std::string("fork: ") + std::strerror(fork_error);
  } else {
    std::string number;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (number.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{p[0], POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      char buffer[16];
      const ssize_t n = read(p[0], buffer, sizeof buffer);
      if (n <= 0) break;  // the server exited without saying a number
      number.append(buffer, static_cast<size_t>(n));
    }
    if (number.find('\n') != std::string::npos) {
      display = ":" + number.substr(0, number.find('\n'));
    } else {
      error = program + " gave no display number within 15 s";
      if (log >= 0) error += "; its output:\n" + ReadFile(log_path);
    }
  }
  close(p[0]);
  if (log >= 0) {
    close(log);
    unlink(log_path);
  }
}

Xvfb::~Xvfb() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

bool XcbLoaded(std::string* why) {
  *why = X().error;
  return why->empty();
}

SyncDeviceOptions WsiDeviceOptions() {
  SyncDeviceOptions options;
  options.instance_extensions = {VK_KHR_SURFACE_EXTENSION_NAME, VK_KHR_XCB_SURFACE_EXTENSION_NAME};
  options.device_extensions = {VK_KHR_SWAPCHAIN_EXTENSION_NAME};
  return options;
}

WsiWindow::WsiWindow(SyncDevice& s, const std::string& display) : s_(s), recorder_(*s.dev) {
  if (!X().error.empty()) {
    error = "libxcb: " + X().error;
    return;
  }
  int screen_number = 0;
  connection_ = X().xcb_connect(display.c_str(), &screen_number);
  if (X().xcb_connection_has_error(connection_)) {
    error = "X().xcb_connect(" + display + ") failed";
    return;
  }
  xcb_screen_iterator_t it = X().xcb_setup_roots_iterator(X().xcb_get_setup(connection_));
  for (int i = 0; i < screen_number && it.rem > 0; ++i) X().xcb_screen_next(&it);
  xcb_screen_t* screen = it.data;
  window_ = X().xcb_generate_id(connection_);
  const uint32_t black = screen->black_pixel;
  X().xcb_create_window(connection_, XCB_COPY_FROM_PARENT, window_, screen->root, 0, 0, 64, 64, 0,
                        XCB_WINDOW_CLASS_INPUT_OUTPUT, screen->root_visual, XCB_CW_BACK_PIXEL, &black);
  X().xcb_map_window(connection_, window_);
  X().xcb_flush(connection_);

  VkPhysicalDevice gpu = s.vk->gpu;
  VkInstance instance = s.vk->instance;
  VkDevice device = s.dev->device;
  if (!vkGetPhysicalDeviceXcbPresentationSupportKHR(gpu, s.dev->queue_family, connection_,
                                                    screen->root_visual)) {
    unsupported = true;
    error = "the physical device cannot present to the X server " + display +
            " (vkGetPhysicalDeviceXcbPresentationSupportKHR)";
    return;
  }
  VkXcbSurfaceCreateInfoKHR surface_info{VK_STRUCTURE_TYPE_XCB_SURFACE_CREATE_INFO_KHR, nullptr, 0,
                                         connection_, window_};
  if (VkResult r = vkCreateXcbSurfaceKHR(instance, &surface_info, nullptr, &surface); r != VK_SUCCESS) {
    surface = VK_NULL_HANDLE;
    unsupported = true;
    error = "vkCreateXcbSurfaceKHR: " + std::to_string(r);
    return;
  }
  VkBool32 supported = VK_FALSE;
  vkGetPhysicalDeviceSurfaceSupportKHR(gpu, s.dev->queue_family, surface, &supported);
  if (!supported) {
    unsupported = true;
    error = "queue family " + std::to_string(s.dev->queue_family) + " cannot present to the surface";
    return;
  }
  VkSurfaceCapabilitiesKHR caps;
  vkGetPhysicalDeviceSurfaceCapabilitiesKHR(gpu, surface, &caps);
  uint32_t count = 0;
  vkGetPhysicalDeviceSurfaceFormatsKHR(gpu, surface, &count, nullptr);
  std::vector<VkSurfaceFormatKHR> formats(count);
  vkGetPhysicalDeviceSurfaceFormatsKHR(gpu, surface, &count, formats.data());
  const VkSurfaceFormatKHR* format = nullptr;
  for (const auto& f : formats) {
    if (f.format == VK_FORMAT_B8G8R8A8_UNORM || (format == nullptr && f.format == VK_FORMAT_B8G8R8A8_SRGB)) {
      format = &f;
    }
  }
  if (format == nullptr || (caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT) == 0) {
    unsupported = true;
    error = "the surface offers no B8G8R8A8 format with transfer destination usage";
    return;
  }
  vkGetPhysicalDeviceSurfacePresentModesKHR(gpu, surface, &count, nullptr);  // FIFO is always there
  VkSwapchainCreateInfoKHR info{VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR};
  info.surface = surface;
  info.minImageCount =
      caps.maxImageCount == 0 ? caps.minImageCount + 1 : std::min(caps.minImageCount + 1, caps.maxImageCount);
  info.imageFormat = format->format;
  info.imageColorSpace = format->colorSpace;
  info.imageExtent = caps.currentExtent.width == UINT32_MAX ? VkExtent2D{64, 64} : caps.currentExtent;
  info.imageArrayLayers = 1;
  info.imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT;
  info.imageSharingMode = VK_SHARING_MODE_EXCLUSIVE;
  info.preTransform = caps.currentTransform;
  info.compositeAlpha = (caps.supportedCompositeAlpha & VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR)
                            ? VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR
                            : static_cast<VkCompositeAlphaFlagBitsKHR>(caps.supportedCompositeAlpha &
                                                                       -caps.supportedCompositeAlpha);
  info.presentMode = VK_PRESENT_MODE_FIFO_KHR;
  info.clipped = VK_FALSE;  // every pixel is drawn: the test reads them back
  if (VkResult r = vkCreateSwapchainKHR(device, &info, nullptr, &swapchain); r != VK_SUCCESS) {
    swapchain = VK_NULL_HANDLE;
    error = "vkCreateSwapchainKHR: " + std::to_string(r);
    return;
  }
  vkGetSwapchainImagesKHR(device, swapchain, &count, nullptr);
  images.resize(count);
  vkGetSwapchainImagesKHR(device, swapchain, &count, images.data());
}

WsiWindow::~WsiWindow() {
  VkDevice device = s_.dev->device;
  vkDeviceWaitIdle(device);
  if (swapchain != VK_NULL_HANDLE) vkDestroySwapchainKHR(device, swapchain, nullptr);
  if (surface != VK_NULL_HANDLE) vkDestroySurfaceKHR(s_.vk->instance, surface, nullptr);
  if (connection_ != nullptr) {
    if (window_ != 0) X().xcb_destroy_window(connection_, window_);
    X().xcb_disconnect(connection_);
  }
}

VkResult WsiWindow::Acquire(bool acquire2, VkSemaphore semaphore, VkFence fence, uint32_t* index) {
  if (!acquire2) {
    return vkAcquireNextImageKHR(s_.dev->device, swapchain, kAcquireTimeoutNs, semaphore, fence, index);
  }
  auto acquire = reinterpret_cast<PFN_vkAcquireNextImage2KHR>(
      vkGetDeviceProcAddr(s_.dev->device, "vkAcquireNextImage2KHR"));
  if (acquire == nullptr) return VK_ERROR_EXTENSION_NOT_PRESENT;
  VkAcquireNextImageInfoKHR info{VK_STRUCTURE_TYPE_ACQUIRE_NEXT_IMAGE_INFO_KHR,
                                 nullptr,
                                 swapchain,
                                 kAcquireTimeoutNs,
                                 semaphore,
                                 fence,
                                 1};
  return acquire(s_.dev->device, &info, index);
}

VkResult WsiWindow::Present(uint32_t index, const std::vector<VkSemaphore>& waits) {
  VkResult result = VK_SUCCESS;
  VkPresentInfoKHR info{VK_STRUCTURE_TYPE_PRESENT_INFO_KHR};
  info.waitSemaphoreCount = static_cast<uint32_t>(waits.size());
  info.pWaitSemaphores = waits.data();
  info.swapchainCount = 1;
  info.pSwapchains = &swapchain;
  info.pImageIndices = &index;
  info.pResults = &result;
  VkResult r = vkQueuePresentKHR(s_.dev->queue, &info);
  return r != VK_SUCCESS ? r : result;
}

VkCommandBuffer WsiWindow::Clear(uint32_t index, uint32_t rgb) {
  VkImage image = images.at(index);
  return recorder_.Record([&](VkCommandBuffer c) {
    const VkImageSubresourceRange range{VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    // After the acquire's semaphore wait (at all commands): its contents are not needed.
    VkImageMemoryBarrier to_clear{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
    to_clear.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    to_clear.oldLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    to_clear.newLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
    to_clear.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    to_clear.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    to_clear.image = image;
    to_clear.subresourceRange = range;
    vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, nullptr, 0,
                         nullptr, 1, &to_clear);
    VkClearColorValue colour{};
    colour.float32[0] = ((rgb >> 16) & 0xFF) / 255.0f;
    colour.float32[1] = ((rgb >> 8) & 0xFF) / 255.0f;
    colour.float32[2] = (rgb & 0xFF) / 255.0f;
    colour.float32[3] = 1.0f;
    vkCmdClearColorImage(c, image, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, &colour, 1, &range);
    VkImageMemoryBarrier to_present = to_clear;
    to_present.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    to_present.dstAccessMask = 0;
    to_present.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
    to_present.newLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR;
    vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0,
                         nullptr, 0, nullptr, 1, &to_present);
  });
}

uint32_t WsiWindow::Pixel() {
  xcb_get_image_cookie_t cookie =
      X().xcb_get_image(connection_, XCB_IMAGE_FORMAT_Z_PIXMAP, window_, 32, 32, 1, 1, ~0u);
  std::unique_ptr<xcb_get_image_reply_t, decltype(&std::free)> reply(
      X().xcb_get_image_reply(connection_, cookie, nullptr), &std::free);
  if (!reply || X().xcb_get_image_data_length(reply.get()) < 4) return 0xFFFFFFFF;
  uint32_t pixel = 0;
  std::memcpy(&pixel, X().xcb_get_image_data(reply.get()), 4);  // 24-bit depth, 32 bits a pixel: B, G, R, pad
  return pixel & 0xFFFFFF;
}

uint32_t WsiWindow::AwaitPixel(uint32_t rgb) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  uint32_t pixel = Pixel();
  while (pixel != rgb && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    pixel = Pixel();
  }
  return pixel;
}

}  // namespace ntbridge::test
