// Memory: allocation with Win32 export or import, vkGetMemoryWin32HandleKHR,
// vkGetMemoryWin32HandlePropertiesKHR.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "dispatch.hpp"
#include "handle_types.hpp"
#include "hooks.hpp"
#include "nt_handle.hpp"
#include "pnext.hpp"
#include "shares.hpp"
#include "validation.hpp"

namespace ntbridge {
namespace {

constexpr const char* kAllocate = "vkAllocateMemory";
constexpr const char* kGetHandle = "vkGetMemoryWin32HandleKHR";

// A descriptor the layer owns until it is handed to the driver.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

VkResult ErrnoToResult(int err) {
  return (err == EMFILE || err == ENFILE) ? VK_ERROR_TOO_MANY_OBJECTS : VK_ERROR_OUT_OF_HOST_MEMORY;
}

// Import from an NT handle: the application keeps its handle, the driver gets a duplicate (it consumes fds).
VkResult OpenNtHandle(DeviceData& d, HANDLE handle, const VkMemoryAllocateInfo& info, OwnedFd& out) {
  int fd = HandleToFd(handle);
  std::string why;
  if (!CheckPayloadFd(fd, info.allocationSize, &why)) {
    ReportFatalViolation(
        d.instance->reporter, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661",
        std::string(kAllocate) + ": VkImportMemoryWin32HandleInfoKHR::handle " + Hex(handle) +
            " is not a valid VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT handle: " + why);
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return ErrnoToResult(errno);
  out.reset(dup);
  return VK_SUCCESS;
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL AllocateMemory(VkDevice device, const VkMemoryAllocateInfo* info,
                                              const VkAllocationCallbacks* allocator,
                                              VkDeviceMemory* memory) {
  DeviceData* d = DeviceOf(device);
  if (!d->win32_enabled || info == nullptr || memory == nullptr) {
    return d->next.AllocateMemory(device, info, allocator, memory);
  }
  const DebugReporter& reporter = d->instance->reporter;
  ChainCopy chain(info->pNext);
  if (!chain.ok()) {
    ReportFatalViolation(reporter, "VUID-VkMemoryAllocateInfo-pNext-pNext",
                         std::string(kAllocate) + ": pAllocateInfo->pNext chain is longer than " +
                             std::to_string(kMaxChainLength) + " structures or loops");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  auto* win32_export = FindInChain<VkExportMemoryWin32HandleInfoKHR>(
      info->pNext, VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
  auto* win32_import = FindInChain<VkImportMemoryWin32HandleInfoKHR>(
      info->pNext, VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
  auto* export_info = chain.Find<VkExportMemoryAllocateInfo>(VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO);
  auto* original_export =
      FindInChain<VkExportMemoryAllocateInfo>(info->pNext, VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO);
  if ((win32_export != nullptr &&
       chain.Find<VkBaseOutStructure>(VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR) == nullptr) ||
      (win32_import != nullptr &&
       chain.Find<VkBaseOutStructure>(VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR) == nullptr) ||
      (original_export != nullptr && export_info == nullptr)) {
    ReportFatalViolation(
        reporter, "VUID-VkMemoryAllocateInfo-pNext-pNext",
        std::string(kAllocate) +
            ": pAllocateInfo->pNext holds a structure of an sType this layer does not know before "
            "the external memory structures");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }

  MemoryRecord record;
  record.allocation_size = info->allocationSize;
  record.memory_type_index = info->memoryTypeIndex;
  record.dedicated = FindInChain(info->pNext, VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO) != nullptr;

  if (export_info != nullptr) {
    record.export_types = export_info->handleTypes;
    if (export_info->handleTypes & kD3DTypes) {
      ReportFatalViolation(
          reporter, "VUID-VkExportMemoryAllocateInfo-handleTypes-00656",
          std::string(kAllocate) + ": VkExportMemoryAllocateInfo::handleTypes " +
              Hex(export_info->handleTypes) +
              " names a Direct3D handle type, which has no payload on Linux and is not supported");
      return VK_ERROR_VALIDATION_FAILED_EXT;
    }
    export_info->handleTypes = ToDriverTypes(export_info->handleTypes);
  }
  if (win32_export != nullptr) {
    if ((record.export_types & VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT) == 0) {
      if (ReportViolation(reporter, "VUID-VkExportMemoryWin32HandleInfoKHR-handleTypes-00657",
                          std::string(kAllocate) +
                              ": pAllocateInfo->pNext includes VkExportMemoryWin32HandleInfoKHR, but "
                              "VkExportMemoryAllocateInfo::handleTypes (" +
                              Hex(record.export_types) +
                              ") does not include "
                              "VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT")) {
        return VK_ERROR_VALIDATION_FAILED_EXT;
      }
    }
    record.has_win32_export_info = true;
    record.access = win32_export->dwAccess == 0 ? GENERIC_ALL : win32_export->dwAccess;
    record.inherit_handle = win32_export->pAttributes != nullptr && win32_export->pAttributes->bInheritHandle;
    if (win32_export->name != nullptr) record.name = win32_export->name;
    chain.Remove(VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
  }

  OwnedFd import_fd;
  VkImportMemoryFdInfoKHR fd_import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR};
  if (win32_import != nullptr) {
    chain.Remove(VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
    VkExternalMemoryHandleTypeFlagBits type = win32_import->handleType;
    // handleType 0: the structure is ignored (no import).
    if (type != 0) {
      if ((type & kOpaqueWin32Types) == 0 || !IsSingleBit(type)) {
        const char* vuid =
            (type & kAllKnownTypes) != type ? "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-parameter"
            : (type & kWin32Types) == 0     ? "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00660"
                                            : "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00658";
        ReportFatalViolation(reporter, vuid,
                             std::string(kAllocate) + ": VkImportMemoryWin32HandleInfoKHR::handleType is " +
                                 HandleTypeName(type) + ", which ntbridge cannot import on Linux");
        return VK_ERROR_VALIDATION_FAILED_EXT;
      }
      if (win32_import->handle != nullptr && win32_import->name != nullptr) {
        ReportFatalViolation(reporter, "VUID-VkImportMemoryWin32HandleInfoKHR-handle-01441",
                             std::string(kAllocate) + ": VkImportMemoryWin32HandleInfoKHR::handle is " +
                                 Hex(win32_import->handle) + " and name is not NULL; give one of them");
        return VK_ERROR_VALIDATION_FAILED_EXT;
      }
      VkResult r;
      if (type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT && win32_import->name == nullptr) {
        r = OpenNtHandle(*d, win32_import->handle, *info, import_fd);
      } else {
        int fd = -1;
        r = OpenShare(*d, type, win32_import->handle, win32_import->name, *info, record, &fd);
        import_fd.reset(fd);
      }
      if (r != VK_SUCCESS) return r;
      record.import_type = type;
      fd_import.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
      fd_import.fd = import_fd.get();
      chain.Prepend(reinterpret_cast<VkBaseOutStructure*>(&fd_import));
    }
  }

  VkMemoryAllocateInfo down = *info;
  down.pNext = chain.head();
  VkResult result = d->next.AllocateMemory(device, &down, allocator, memory);
  if (result != VK_SUCCESS) {
    if (record.broker_payload != 0) ReleaseShare(*d, record);
    return result;  // import_fd is still ours on failure and closes here
  }
  import_fd.release();  // the driver owns it now

  if (!record.name.empty() && record.import_type == 0) {
    VkMemoryGetFdInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR, nullptr, *memory,
                             VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
    int fd = -1;
    VkResult r = d->next.GetMemoryFdKHR(device, &get, &fd);
    if (r == VK_SUCCESS && fd >= 0) {
      r = PublishName(*d, *memory, fd, record);
    } else if (r == VK_SUCCESS) {
      r = VK_ERROR_INVALID_EXTERNAL_HANDLE;
    }
    if (r != VK_SUCCESS) {
      d->next.FreeMemory(device, *memory, allocator);
      *memory = VK_NULL_HANDLE;
      return r;
    }
  }
  d->memories.Add(*memory, record);
  return VK_SUCCESS;
}

VKAPI_ATTR void VKAPI_CALL FreeMemory(VkDevice device, VkDeviceMemory memory,
                                      const VkAllocationCallbacks* allocator) {
  DeviceData* d = DeviceOf(device);
  if (memory != VK_NULL_HANDLE) {
    if (auto record = d->memories.Remove(memory); record && record->broker_payload != 0) {
      ReleaseShare(*d, *record);
    }
  }
  d->next.FreeMemory(device, memory, allocator);
}

VKAPI_ATTR VkResult VKAPI_CALL GetMemoryWin32HandleKHR(VkDevice device,
                                                       const VkMemoryGetWin32HandleInfoKHR* info,
                                                       HANDLE* handle) {
  DeviceData* d = DeviceOf(device);
  const DebugReporter& reporter = d->instance->reporter;
  if (!d->win32_enabled) {
    ReportFatalViolation(
        reporter, "VUID-vkGetMemoryWin32HandleKHR-device-parameter",
        std::string(kGetHandle) + ": VK_KHR_external_memory_win32 is not enabled on this device");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if (info == nullptr) {
    ReportFatalViolation(reporter, "VUID-vkGetMemoryWin32HandleKHR-pGetWin32HandleInfo-parameter",
                         std::string(kGetHandle) + ": pGetWin32HandleInfo is NULL");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if (handle == nullptr) {
    ReportFatalViolation(reporter, "VUID-vkGetMemoryWin32HandleKHR-pHandle-parameter",
                         std::string(kGetHandle) + ": pHandle is NULL");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  std::optional<MemoryRecord> record = d->memories.Find(info->memory);
  if (!record) {
    ReportFatalViolation(reporter, "VUID-VkMemoryGetWin32HandleInfoKHR-memory-parameter",
                         std::string(kGetHandle) + ": pGetWin32HandleInfo->memory " +
                             Hex(uint64_t(info->memory)) + " is not a live VkDeviceMemory of this device");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  const VkExternalMemoryHandleTypeFlagBits type = info->handleType;
  if ((type & kOpaqueWin32Types) == 0 || !IsSingleBit(type)) {
    ReportFatalViolation(reporter, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00664",
                         std::string(kGetHandle) + ": pGetWin32HandleInfo->handleType is " +
                             HandleTypeName(type) +
                             ", not an opaque NT or global share handle type ntbridge can export");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if ((record->export_types & type) == 0) {
    ReportFatalViolation(reporter, "VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00662",
                         std::string(kGetHandle) + ": pGetWin32HandleInfo->handleType " +
                             HandleTypeName(type) +
                             " was not included in VkExportMemoryAllocateInfo::handleTypes (" +
                             Hex(record->export_types) + ") when memory was allocated");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }

  if (type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) {
    uint32_t kmt = 0;
    VkResult r = GetGlobalShare(*d, info->memory, *record, &kmt);
    if (r != VK_SUCCESS) return r;
    d->memories.Update(info->memory, [&](MemoryRecord& m) {
      m.kmt = record->kmt;
      m.broker_payload = record->broker_payload;
    });
    *handle = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(kmt));
    return VK_SUCCESS;
  }

  VkMemoryGetFdInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR, nullptr, info->memory,
                           VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
  int fd = -1;
  VkResult r = d->next.GetMemoryFdKHR(device, &get, &fd);
  if (r != VK_SUCCESS) return r;
  if (fd < 0) {
    // Drivers answer success with -1 for memory they did not make exportable; that is never a handle.
    reporter.Warning("ntbridge-driver-export", std::string(kGetHandle) +
                                                   ": the driver returned no descriptor for memory " +
                                                   Hex(uint64_t(info->memory)));
    return VK_ERROR_OUT_OF_HOST_MEMORY;
  }
  LearnPayloadKind(fd);
  fd = MakeNtHandle(fd, record->inherit_handle);
  if (fd < 0) return ErrnoToResult(errno);
  d->memories.Update(info->memory, [&](MemoryRecord& m) { m.nt_handles_fetched |= type; });
  *handle = FdToHandle(fd);
  return VK_SUCCESS;
}

VKAPI_ATTR VkResult VKAPI_CALL
GetMemoryWin32HandlePropertiesKHR(VkDevice device, VkExternalMemoryHandleTypeFlagBits type, HANDLE handle,
                                  VkMemoryWin32HandlePropertiesKHR* properties) {
  DeviceData* d = DeviceOf(device);
  const DebugReporter& reporter = d->instance->reporter;
  constexpr const char* kCmd = "vkGetMemoryWin32HandlePropertiesKHR";
  if (!d->win32_enabled) {
    ReportFatalViolation(reporter, "VUID-vkGetMemoryWin32HandlePropertiesKHR-device-parameter",
                         std::string(kCmd) + ": VK_KHR_external_memory_win32 is not enabled on this device");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if (properties == nullptr) {
    ReportFatalViolation(reporter,
                         "VUID-vkGetMemoryWin32HandlePropertiesKHR-pMemoryWin32HandleProperties-parameter",
                         std::string(kCmd) + ": pMemoryWin32HandleProperties is NULL");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if (type & kOpaqueWin32Types) {
    ReportFatalViolation(reporter, "VUID-vkGetMemoryWin32HandlePropertiesKHR-handleType-00666",
                         std::string(kCmd) + ": handleType is " + HandleTypeName(type) +
                             ", an opaque type; properties of opaque handles come from the exporter");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  // Only Direct3D handles are non-opaque Win32 types, and no Direct3D resource exists on Linux.
  reporter.Warning("ntbridge-no-d3d", std::string(kCmd) + ": handle " + Hex(handle) + " of type " +
                                          HandleTypeName(type) + " cannot exist on Linux (no Direct3D)");
  return VK_ERROR_INVALID_EXTERNAL_HANDLE;
}

}  // namespace ntbridge
