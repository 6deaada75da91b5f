// vkAllocateMemory with Win32 export or import structures.
#include <cstring>

#include "handle_types.hpp"
#include "pnext.hpp"
#include "validation/rules.hpp"

namespace ntbridge {
namespace {

constexpr const char* kAllocate = "vkAllocateMemory: ";
constexpr const char* kExport = "pAllocateInfo->pNext<VkExportMemoryAllocateInfo>";
constexpr const char* kWin32Export = "pAllocateInfo->pNext<VkExportMemoryWin32HandleInfoKHR>";
constexpr const char* kImport = "pAllocateInfo->pNext<VkImportMemoryWin32HandleInfoKHR>";

// Names in the broker's namespace are at most MAX_PATH characters (DESIGN.md §2).
constexpr size_t kMaxNameLength = 260;

// Win32 types that are NT handles and so may be named
// (VUID-VkImportMemoryWin32HandleInfoKHR-handleType-01439).
constexpr VkExternalMemoryHandleTypeFlags kNameableTypes =
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT | VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT | VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT;

template <typename T>
const T* Find(const VkMemoryAllocateInfo& info, VkStructureType type) {
  return FindInChain<T>(info.pNext, type);
}

void CheckExport(const VkMemoryAllocateInfo& info, Violations& out) {
  auto* export_info = Find<VkExportMemoryAllocateInfo>(info, VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO);
  auto* win32 =
      Find<VkExportMemoryWin32HandleInfoKHR>(info, VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
  const VkExternalMemoryHandleTypeFlags types = export_info != nullptr ? export_info->handleTypes : 0;
  if (export_info != nullptr) {
    if ((types & kAllKnownTypes) != types) {
      out.push_back({"VUID-VkExportMemoryAllocateInfo-handleTypes-parameter",
                     kAllocate + std::string(kExport) + ".handleTypes is " + Hex(types) +
                         ", which has bits (" + Hex(types & ~kAllKnownTypes) +
                         ") that VkExternalMemoryHandleTypeFlagBits does not define"});
      return;
    }
    if (types & kD3DTypes) {
      out.push_back(
          {"VUID-VkExportMemoryAllocateInfo-handleTypes-00656",
           kAllocate + std::string(kExport) + ".handleTypes is " + Hex(types) + ", which includes " +
               HandleTypeName(types & kD3DTypes & -(types & kD3DTypes)) +
               ": Direct3D handle types have no payload on Linux and are not supported for export"});
      return;
    }
    const VkBaseInStructure* nv = FindInChain(info.pNext, VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO_NV);
    if (nv == nullptr) nv = FindInChain(info.pNext, VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_NV);
    if (nv != nullptr) {
      out.push_back({"VUID-VkMemoryAllocateInfo-pNext-00640",
                     kAllocate +
                         std::string("pAllocateInfo->pNext includes VkExportMemoryAllocateInfo and ") +
                         (nv->sType == VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO_NV
                              ? "VkExportMemoryAllocateInfoNV"
                              : "VkExportMemoryWin32HandleInfoNV")});
      return;
    }
  }
  if (win32 == nullptr) return;
  if ((types & VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT) == 0) {
    // Not fatal: the layer drops the structure and the allocation is still well defined.
    out.push_back({"VUID-VkExportMemoryWin32HandleInfoKHR-handleTypes-00657",
                   kAllocate +
                       std::string("pAllocateInfo->pNext includes VkExportMemoryWin32HandleInfoKHR, but ") +
                       (export_info == nullptr ? std::string("no VkExportMemoryAllocateInfo")
                                               : std::string(kExport) + ".handleTypes (" + Hex(types) + ")") +
                       " does not include VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT",
                   false});
  }
  if (win32->pAttributes != nullptr && win32->pAttributes->nLength != sizeof(SECURITY_ATTRIBUTES)) {
    // Not fatal: the layer reads only bInheritHandle.
    out.push_back({"VUID-VkExportMemoryWin32HandleInfoKHR-pAttributes-parameter",
                   kAllocate + std::string(kWin32Export) + ".pAttributes->nLength is " +
                       std::to_string(win32->pAttributes->nLength) + ", not sizeof(SECURITY_ATTRIBUTES) (" +
                       std::to_string(sizeof(SECURITY_ATTRIBUTES)) + ")",
                   false});
  }
}

// True when `s` (an import structure of another kind) defines an import operation.
bool DefinesImport(const VkBaseInStructure* s) {
  if (s == nullptr) return false;
  if (s->sType == VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR) {
    return reinterpret_cast<const VkImportMemoryFdInfoKHR*>(s)->handleType != 0;
  }
  if (s->sType == VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT) {
    return reinterpret_cast<const VkImportMemoryHostPointerInfoEXT*>(s)->handleType != 0;
  }
  return false;
}

void CheckImport(const VkMemoryAllocateInfo& info, Violations& out) {
  auto* import =
      Find<VkImportMemoryWin32HandleInfoKHR>(info, VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
  if (import == nullptr) return;
  // Built only when a rule is broken: the passing path allocates nothing.
  auto field = [] { return kAllocate + std::string(kImport); };
  if (FindInChain(info.pNext, VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_NV) != nullptr) {
    out.push_back(
        {"VUID-VkMemoryAllocateInfo-pNext-00641",
         kAllocate + std::string("pAllocateInfo->pNext includes VkImportMemoryWin32HandleInfoKHR and "
                                 "VkImportMemoryWin32HandleInfoNV")});
    return;
  }
  if (import->handle != nullptr && import->name != nullptr) {
    out.push_back(
        {"VUID-VkImportMemoryWin32HandleInfoKHR-handle-01441",
         field() + ".handle is " + Hex(import->handle) + " and name is not NULL; give one of them"});
    return;
  }
  const VkExternalMemoryHandleTypeFlagBits type = import->handleType;
  if (type == 0) return;  // the structure is ignored: no import
  if ((type & kAllKnownTypes) != type || !IsSingleBit(type)) {
    out.push_back({"VUID-VkImportMemoryWin32HandleInfoKHR-handleType-parameter",
                   field() + ".handleType is " + HandleTypeName(type) +
                       ", not a single VkExternalMemoryHandleTypeFlagBits value"});
    return;
  }
  if ((type & kWin32Types) == 0) {
    out.push_back({"VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00660",
                   field() + ".handleType is " + HandleTypeName(type) +
                       ", which is neither an NT handle nor a global share handle type"});
    return;
  }
  if (type & kD3DTypes) {
    out.push_back(
        {"VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00658",
         field() + ".handleType is " + HandleTypeName(type) +
             ", which is not supported for import: Direct3D handle types have no payload on Linux"});
    return;
  }
  for (VkStructureType other :
       {VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR, VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT}) {
    if (DefinesImport(FindInChain(info.pNext, other))) {
      out.push_back(
          {"VUID-VkMemoryAllocateInfo-None-06657",
           kAllocate +
               std::string("pAllocateInfo->pNext defines two import operations: "
                           "VkImportMemoryWin32HandleInfoKHR and ") +
               (other == VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR ? "VkImportMemoryFdInfoKHR"
                                                                     : "VkImportMemoryHostPointerInfoEXT")});
      return;
    }
  }
  if (import->name != nullptr) {
    if ((type & kNameableTypes) == 0) {
      out.push_back({"VUID-VkImportMemoryWin32HandleInfoKHR-handleType-01439",
                     field() + ".name is not NULL and handleType is " + HandleTypeName(type) +
                         ", which is not an NT handle type; only NT handles have names"});
      return;
    }
    // Bounded: an unterminated name is read no further than one character past the longest valid one.
    size_t length = 0;
    while (length <= kMaxNameLength && import->name[length] != L'\0') ++length;
    if (length == 0 || length > kMaxNameLength) {
      out.push_back(
          {"VUID-VkImportMemoryWin32HandleInfoKHR-handleType-01440",
           field() + ".name is " +
               (length == 0 ? std::string("empty")
                            : (length > kMaxNameLength ? "more than " + std::to_string(kMaxNameLength)
                                                       : std::to_string(length)) +
                                  " characters long") +
               ", so it names no memory resource (names have 1 to " + std::to_string(kMaxNameLength) +
               " characters)"});
    }
    return;
  }
  if (type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) {
    auto value = reinterpret_cast<uintptr_t>(import->handle);
    if (value == 0 || value > UINT32_MAX) {
      out.push_back({"VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661",
                     field() + ".handle is " + Hex(import->handle) +
                         ", which is not a valid VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT handle "
                         "(global share handles are nonzero 32-bit values)"});
    }
  }
}

bool SameUuid(const uint8_t (&a)[VK_UUID_SIZE], const uint8_t (&b)[VK_UUID_SIZE]) {
  return std::memcmp(a, b, VK_UUID_SIZE) == 0;
}

std::string UuidText(const uint8_t (&uuid)[VK_UUID_SIZE]) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : uuid) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

}  // namespace

Violations ValidateAllocateMemory(const VkMemoryAllocateInfo& info) {
  Violations out;
  CheckExport(info, out);
  if (!out.empty() && out.back().fatal) return out;
  CheckImport(info, out);
  return out;
}

Violations ValidateImportFromExporter(const VkMemoryAllocateInfo& info, const ExportedPayload& exporter,
                                      const uint8_t (&device_uuid)[VK_UUID_SIZE],
                                      const uint8_t (&driver_uuid)[VK_UUID_SIZE]) {
  auto field = [] { return kAllocate + std::string(kImport) + ".handle"; };
  if (!SameUuid(exporter.device_uuid, device_uuid)) {
    return {{"VUID-VkImportMemoryWin32HandleInfoKHR-handle-00659",
             field() + " was exported from a physical device with deviceUUID " +
                 UuidText(exporter.device_uuid) + ", not from this device's (" + UuidText(device_uuid) +
                 ")"}};
  }
  if (!SameUuid(exporter.driver_uuid, driver_uuid)) {
    return {{"VUID-VkImportMemoryWin32HandleInfoKHR-handle-01518",
             field() + " was exported by a driver with driverUUID " + UuidText(exporter.driver_uuid) +
                 ", not by this device's driver (" + UuidText(driver_uuid) +
                 "); VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT requires the same driver"}};
  }
  if (info.allocationSize != exporter.allocation_size || info.memoryTypeIndex != exporter.memory_type_index) {
    return {{"VUID-VkMemoryAllocateInfo-allocationSize-01743",
             std::string(kAllocate) + "pAllocateInfo->allocationSize is " +
                 std::to_string(info.allocationSize) + " and memoryTypeIndex is " +
                 std::to_string(info.memoryTypeIndex) + ", but " + field() +
                 " was exported from memory with allocationSize " + std::to_string(exporter.allocation_size) +
                 " and memoryTypeIndex " + std::to_string(exporter.memory_type_index)}};
  }
  return {};
}

}  // namespace ntbridge
