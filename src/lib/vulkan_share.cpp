// Vulkan-side helpers (include/ntbridge/vulkan.hpp).
#include <algorithm>
#include <ntbridge/vulkan.hpp>
#include <stdexcept>
#include <string>

namespace ntbridge {

namespace {

template <typename Fn>
Fn Load(PFN_vkGetDeviceProcAddr get_device_proc, VkDevice device, const char* name) {
  auto fn = reinterpret_cast<Fn>(get_device_proc(device, name));
  if (fn == nullptr) {
    throw std::runtime_error(std::string("ntbridge: ") + name +
                             " is not available: enable VK_KHR_external_memory_win32 on the device "
                             "(and the VK_LAYER_NTBRIDGE_external_win32 layer on the instance)");
  }
  return fn;
}

void Check(VkResult result, const char* what) {
  if (result != VK_SUCCESS) {
    throw std::runtime_error(std::string("ntbridge: ") + what + " failed with VkResult " +
                             std::to_string(result) +
                             " (for KMT values and names: is the share still alive, and is the ntbridged "
                             "broker reachable?)");
  }
}

}  // namespace

void FillDeviceIds(PFN_vkGetInstanceProcAddr get_instance_proc, VkInstance instance, VkPhysicalDevice gpu,
                   MemoryInfo& info) {
  auto get_properties = reinterpret_cast<PFN_vkGetPhysicalDeviceProperties2>(
      get_instance_proc(instance, "vkGetPhysicalDeviceProperties2"));
  if (get_properties == nullptr) {
    throw std::runtime_error(
        "ntbridge: vkGetPhysicalDeviceProperties2 is missing: create the instance with "
        "apiVersion 1.1 or later");
  }
  VkPhysicalDeviceIDProperties ids{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  VkPhysicalDeviceProperties2 properties{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &ids};
  get_properties(gpu, &properties);
  static_assert(sizeof info.device_uuid == VK_UUID_SIZE && sizeof info.driver_uuid == VK_UUID_SIZE);
  std::copy(std::begin(ids.deviceUUID), std::end(ids.deviceUUID), info.device_uuid);
  std::copy(std::begin(ids.driverUUID), std::end(ids.driverUUID), info.driver_uuid);
}

NtHandle OpenShareAsNtHandle(VkDevice device, PFN_vkGetDeviceProcAddr get_device_proc,
                             const MemoryInfo& info) {
  const bool kmt = info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  const bool named =
      info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT && info.name[0] != L'\0';
  if (!kmt && !named) {
    throw std::invalid_argument(
        "ntbridge::OpenShareAsNtHandle: `info` describes neither a KMT value nor a name");
  }
  if (info.dedicated) {
    // A dedicated payload must be imported as a dedicated allocation of a matching resource; a bare
    // allocation cannot stand in for it.
    throw std::invalid_argument(
        "ntbridge::OpenShareAsNtHandle: the share is a dedicated allocation; import it "
        "into Vulkan with VkMemoryDedicatedAllocateInfo and export an NT handle yourself");
  }
  auto allocate = Load<PFN_vkAllocateMemory>(get_device_proc, device, "vkAllocateMemory");
  auto free_memory = Load<PFN_vkFreeMemory>(get_device_proc, device, "vkFreeMemory");
  auto get_handle = Load<PFN_vkGetMemoryWin32HandleKHR>(get_device_proc, device, "vkGetMemoryWin32HandleKHR");

  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr,
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  VkImportMemoryWin32HandleInfoKHR import_info{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
                                               &export_info};
  import_info.handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(info.handle_type);
  if (kmt) {
    import_info.handle = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(info.global_share));
  } else {
    import_info.name = info.name;
  }
  VkMemoryAllocateInfo allocate_info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &import_info,
                                     info.allocation_size, info.memory_type_index};
  VkDeviceMemory memory = VK_NULL_HANDLE;
  Check(allocate(device, &allocate_info, nullptr, &memory),
        kmt ? "vkAllocateMemory (import of a KMT value)" : "vkAllocateMemory (import by name)");
  VkMemoryGetWin32HandleInfoKHR get_info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory,
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  HANDLE handle = nullptr;
  const VkResult result = get_handle(device, &get_info, &handle);
  free_memory(device, memory, nullptr);
  Check(result, "vkGetMemoryWin32HandleKHR (OPAQUE_WIN32, of the imported share)");
  return NtHandle(handle);
}

}  // namespace ntbridge
