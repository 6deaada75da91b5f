// The Valid Usage rules of VK_KHR_external_memory_win32, as pure functions of a command's parameters and of
// what the layer recorded: no driver, no kernel. Each returns the rules broken, in the order the spec lists
// them, and stops at the first fatal one (what follows may depend on it). docs/validation.md lists every
// rule and where it is checked.
#pragma once

#include "memory_record.hpp"
#include "validation.hpp"
#include "validation/exported_payloads.hpp"
#include "vk_win32.hpp"

namespace ntbridge {

// vkGetMemoryWin32HandleKHR. `record` is the layer's record of pGetWin32HandleInfo->memory, nullptr when the
// layer does not know that memory (VK_NULL_HANDLE, freed, garbage, another device's). 00663 needs the memory
// table's atomic check-and-set: see NtHandleFetchedTwice.
Violations ValidateGetMemoryWin32Handle(bool extension_enabled, const VkMemoryGetWin32HandleInfoKHR* info,
                                        const HANDLE* pHandle, const MemoryRecord* record);

// VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663, for the second fetch of an NT handle of `memory`.
Violation NtHandleFetchedTwice(VkDeviceMemory memory, VkExternalMemoryHandleTypeFlagBits type);

// vkGetMemoryWin32HandlePropertiesKHR. `made_by_vulkan`: `handle` is an NT handle this process exported.
Violations ValidateGetMemoryWin32HandleProperties(bool extension_enabled,
                                                  VkExternalMemoryHandleTypeFlagBits type, HANDLE handle,
                                                  const VkMemoryWin32HandlePropertiesKHR* properties,
                                                  bool made_by_vulkan);

// vkAllocateMemory: the rules of VkExportMemoryAllocateInfo, VkExportMemoryWin32HandleInfoKHR,
// VkImportMemoryWin32HandleInfoKHR and VkMemoryAllocateInfo that the parameters alone decide. Whether an NT
// handle is an open descriptor of Vulkan memory (00661) is the kernel's to say, in memory.cpp.
Violations ValidateAllocateMemory(const VkMemoryAllocateInfo& info);

// vkAllocateMemory importing an NT handle whose exporter this process knows: same physical device and driver
// (00659, 01518), same allocationSize and memoryTypeIndex (01743).
Violations ValidateImportFromExporter(const VkMemoryAllocateInfo& info, const ExportedPayload& exporter,
                                      const uint8_t (&device_uuid)[VK_UUID_SIZE],
                                      const uint8_t (&driver_uuid)[VK_UUID_SIZE]);

// vkCreateBuffer / vkCreateImage: VkExternalMemoryBufferCreateInfo / VkExternalMemoryImageCreateInfo
// ::handleTypes. `command` "vkCreateBuffer" or "vkCreateImage".
Violations ValidateExternalMemoryCreateInfo(const char* command,
                                            VkExternalMemoryHandleTypeFlags handle_types);

}  // namespace ntbridge
