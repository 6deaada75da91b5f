// Benchmark support: two Vulkan sides in one process, through the real loader.
//  - the Win32 side: an instance WITH VK_LAYER_NTBRIDGE_external_win32, a device with
//    VK_KHR_external_memory_win32 (the layer's path);
//  - the fd side: an instance WITHOUT the layer, a device with VK_KHR_external_memory_fd (the driver's own
//    path, no layer code at all between the application and the driver).
// No gtest here: the benchmark programs must run on a machine that has only the loader and the driver.
#pragma once

#define VK_USE_PLATFORM_WIN32_KHR 1
#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <string>

namespace ntbridge::bench {

inline constexpr const char* kLayer = "VK_LAYER_NTBRIDGE_external_win32";
inline constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
inline constexpr auto kKmt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
inline constexpr auto kOpaqueFd = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;

// Call first in main(): points the loader at the built layer (VK_ADD_LAYER_PATH = <exe>/../layer unless
// already set), removes environment variables that would enable layers on the fd side, raises
// RLIMIT_NOFILE as far as allowed.
void PrepareProcess();

// Raises the soft (and, when privileged, the hard) descriptor limit to at least `want`; returns the soft
// limit now in force.
uint64_t RaiseFdLimit(uint64_t want);

// Fatal setup error: prints and exits(2).
[[noreturn]] void Die(const std::string& what);

// Helpers the Vulkan sides of the memory and the sync benchmarks share.
bool HasDeviceExtension(VkPhysicalDevice gpu, const char* name);
template <typename T>
void Load(VkDevice device, T& fn, const char* name) {
  fn = reinterpret_cast<T>(vkGetDeviceProcAddr(device, name));
}
// `*r`, or a per-thread place for results the caller does not want.
VkResult& Sink(VkResult* r);

enum class Side { kWin32, kFd };
inline const char* SideName(Side s) { return s == Side::kWin32 ? "win32" : "fd"; }

// One instance + device + the device-level entry points, fetched with vkGetDeviceProcAddr (no loader
// trampoline on either side).
class VkSide {
 public:
  explicit VkSide(Side side);
  ~VkSide();
  VkSide(const VkSide&) = delete;
  VkSide& operator=(const VkSide&) = delete;

  Side side;
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice gpu = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  std::string device_name;
  std::string driver_info;
  uint8_t device_uuid[VK_UUID_SIZE] = {};
  uint32_t memory_type = 0;  // device-local, the same index on both sides (same physical device)

  PFN_vkAllocateMemory AllocateMemory = nullptr;
  PFN_vkFreeMemory FreeMemory = nullptr;
  PFN_vkGetMemoryFdKHR GetMemoryFdKHR = nullptr;
  PFN_vkGetMemoryWin32HandleKHR GetMemoryWin32HandleKHR = nullptr;

  // Plain allocation (no export), or VK_NULL_HANDLE with `*result` set.
  VkDeviceMemory Allocate(VkDeviceSize size, VkResult* result = nullptr);
  // Exportable allocation: OPAQUE_WIN32 (and `extra` types) on the Win32 side, OPAQUE_FD on the fd side.
  // `name` (Win32 side only) goes to VkExportMemoryWin32HandleInfoKHR::name.
  VkDeviceMemory AllocateExportable(VkDeviceSize size, VkResult* result = nullptr,
                                    VkExternalMemoryHandleTypeFlags extra = 0, const wchar_t* name = nullptr);
  // The NT handle (Win32 side) or the fd (fd side) as an int descriptor; -1 on failure.
  int Export(VkDeviceMemory memory, VkResult* result = nullptr);
  // KMT value (Win32 side only), 0 on failure.
  uint32_t ExportKmt(VkDeviceMemory memory, VkResult* result = nullptr);
  // Imports with the ownership shape of the Win32 API: the caller keeps `fd`. The Win32 side passes it as
  // an NT handle (the layer duplicates it); the fd side duplicates it itself, as an application that keeps
  // its descriptor must, since the driver consumes the fd it is given.
  VkDeviceMemory ImportKeep(int fd, VkDeviceSize size, VkResult* result = nullptr);
  // Imports an fd the driver consumes (fd side only): the raw handoff.
  VkDeviceMemory ImportConsume(int fd, VkDeviceSize size, VkResult* result = nullptr);
  // Imports by name or KMT value through the layer (Win32 side only).
  VkDeviceMemory ImportName(const wchar_t* name, VkDeviceSize size, VkResult* result = nullptr);
  VkDeviceMemory ImportKmt(uint32_t kmt, VkDeviceSize size, VkResult* result = nullptr);
  void Free(VkDeviceMemory memory);  // out of line, so a profiler can attribute it
};

// Picks the physical device: NTBRIDGE_BENCH_DEVICE (substring of the name) if set, else the first that is
// not a CPU implementation, else the first.
VkPhysicalDevice PickDevice(VkInstance instance);

// Describes the machine for the JSON context (kernel, CPU model).
std::string MachineDescription();

// SCM_RIGHTS over a connected Unix socket.
bool SendFd(int socket, int fd, const void* data, size_t size);
bool ReceiveFd(int socket, int* fd, void* data, size_t size);
bool WriteAll(int fd, const void* data, size_t size);
bool ReadAll(int fd, void* data, size_t size);

// Path of this program (for re-exec as a helper process).
std::string SelfExe();

}  // namespace ntbridge::bench
