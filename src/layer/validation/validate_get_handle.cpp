// vkGetMemoryWin32HandleKHR and vkGetMemoryWin32HandlePropertiesKHR.
#include "handle_types.hpp"
#include "validation/rules.hpp"

namespace ntbridge {
namespace {

constexpr const char* kGetHandle = "vkGetMemoryWin32HandleKHR";
constexpr const char* kGetProperties = "vkGetMemoryWin32HandlePropertiesKHR";

std::string StructureTypeValue(VkStructureType type) { return std::to_string(static_cast<int64_t>(type)); }

// Types the spec defines as opaque (the external memory handle types table).
constexpr VkExternalMemoryHandleTypeFlags kOpaqueTypes =
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT | kOpaqueWin32Types;

constexpr bool IsValidFlagBit(VkExternalMemoryHandleTypeFlags type) {
  return IsSingleBit(type) && (type & kAllKnownTypes) == type;
}

}  // namespace

Violations ValidateGetMemoryWin32Handle(bool extension_enabled, const VkMemoryGetWin32HandleInfoKHR* info,
                                        const HANDLE* pHandle, const MemoryRecord* record) {
  // Messages are built only when a rule is broken: the passing path allocates nothing.
  auto cmd = [] { return std::string(kGetHandle) + ": "; };
  if (!extension_enabled) {
    return {{"VUID-vkGetMemoryWin32HandleKHR-device-parameter",
             cmd() + "device was not created with VK_KHR_external_memory_win32 enabled"}};
  }
  if (info == nullptr) {
    return {{"VUID-vkGetMemoryWin32HandleKHR-pGetWin32HandleInfo-parameter",
             cmd() + "pGetWin32HandleInfo is NULL"}};
  }
  if (info->sType != VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR) {
    return {{"VUID-VkMemoryGetWin32HandleInfoKHR-sType-sType",
             cmd() + "pGetWin32HandleInfo->sType is " + StructureTypeValue(info->sType) +
                 ", not VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR"}};
  }
  if (info->pNext != nullptr) {
    return {{"VUID-VkMemoryGetWin32HandleInfoKHR-pNext-pNext",
             cmd() + "pGetWin32HandleInfo->pNext is " + Hex(info->pNext) + ", not NULL"}};
  }
  if (pHandle == nullptr) {
    return {{"VUID-vkGetMemoryWin32HandleKHR-pHandle-parameter", cmd() + "pHandle is NULL"}};
  }
  if (record == nullptr) {
    return {{"VUID-VkMemoryGetWin32HandleInfoKHR-memory-parameter",
             cmd() + "pGetWin32HandleInfo->memory " + Hex(uint64_t(info->memory)) +
                 " is not a live VkDeviceMemory of this device"}};
  }
  const VkExternalMemoryHandleTypeFlagBits type = info->handleType;
  if (!IsValidFlagBit(type)) {
    return {{"VUID-VkMemoryGetWin32HandleInfoKHR-handleType-parameter",
             cmd() + "pGetWin32HandleInfo->handleType is " + HandleTypeName(type) +
                 ", not a single VkExternalMemoryHandleTypeFlagBits value"}};
  }
  if ((type & kWin32Types) == 0) {
    return {{"VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00664",
             cmd() + "pGetWin32HandleInfo->handleType is " + HandleTypeName(type) +
                 ", which is neither an NT handle nor a global share handle type"}};
  }
  if ((record->export_types & type) == 0) {
    return {{"VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00662",
             cmd() + "pGetWin32HandleInfo->handleType is " + HandleTypeName(type) +
                 ", which was not included in VkExportMemoryAllocateInfo::handleTypes (" +
                 Hex(record->export_types) + ") when memory " + Hex(uint64_t(info->memory)) +
                 " was allocated"}};
  }
  return {};
}

Violation NtHandleFetchedTwice(VkDeviceMemory memory, VkExternalMemoryHandleTypeFlagBits type) {
  // Not fatal: another descriptor of the same payload can be made, so report_only may carry on.
  return {"VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663",
          std::string(kGetHandle) + ": pGetWin32HandleInfo->handleType is " + HandleTypeName(type) +
              ", an NT handle type, and an NT handle of memory " + Hex(uint64_t(memory)) +
              " was already fetched; duplicate that handle instead",
          false};
}

Violations ValidateGetMemoryWin32HandleProperties(bool extension_enabled,
                                                  VkExternalMemoryHandleTypeFlagBits type, HANDLE handle,
                                                  const VkMemoryWin32HandlePropertiesKHR* properties,
                                                  bool made_by_vulkan) {
  auto cmd = [] { return std::string(kGetProperties) + ": "; };
  if (!extension_enabled) {
    return {{"VUID-vkGetMemoryWin32HandlePropertiesKHR-device-parameter",
             cmd() + "device was not created with VK_KHR_external_memory_win32 enabled"}};
  }
  if (!IsValidFlagBit(type)) {
    return {{"VUID-vkGetMemoryWin32HandlePropertiesKHR-handleType-parameter",
             cmd() + "handleType is " + HandleTypeName(type) +
                 ", not a single VkExternalMemoryHandleTypeFlagBits value"}};
  }
  if (properties == nullptr) {
    return {{"VUID-vkGetMemoryWin32HandlePropertiesKHR-pMemoryWin32HandleProperties-parameter",
             cmd() + "pMemoryWin32HandleProperties is NULL"}};
  }
  if (properties->sType != VK_STRUCTURE_TYPE_MEMORY_WIN32_HANDLE_PROPERTIES_KHR) {
    return {{"VUID-VkMemoryWin32HandlePropertiesKHR-sType-sType",
             cmd() + "pMemoryWin32HandleProperties->sType is " + StructureTypeValue(properties->sType) +
                 ", not VK_STRUCTURE_TYPE_MEMORY_WIN32_HANDLE_PROPERTIES_KHR"}};
  }
  if (properties->pNext != nullptr) {
    return {{"VUID-VkMemoryWin32HandlePropertiesKHR-pNext-pNext",
             cmd() + "pMemoryWin32HandleProperties->pNext is " + Hex(properties->pNext) + ", not NULL"}};
  }
  if (type & kOpaqueTypes) {
    return {{"VUID-vkGetMemoryWin32HandlePropertiesKHR-handleType-00666",
             cmd() + "handleType is " + HandleTypeName(type) +
                 ", an opaque type; the properties of opaque handles are those of the exporting memory"}};
  }
  if (made_by_vulkan) {
    return {{"VUID-vkGetMemoryWin32HandlePropertiesKHR-handle-00665",
             cmd() + "handle " + Hex(handle) +
                 " is an NT handle exported by vkGetMemoryWin32HandleKHR, not one "
                 "created outside of the Vulkan API"}};
  }
  return {};
}

}  // namespace ntbridge
