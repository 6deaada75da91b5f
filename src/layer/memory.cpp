// Memory: allocation with Win32 export or import, vkGetMemoryWin32HandleKHR,
// vkGetMemoryWin32HandlePropertiesKHR.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "dispatch.hpp"
#include "handle_types.hpp"
#include "hooks.hpp"
#include "nt_handle.hpp"
#include "pnext.hpp"
#include "settings.hpp"
#include "shares.hpp"
#include "validation.hpp"
#include "validation/exported_payloads.hpp"
#include "validation/rules.hpp"

namespace ntbridge {
namespace {

constexpr const char* kAllocate = "vkAllocateMemory";

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

// Said once per process: where kcmp is refused, NT handles of a driver whose payloads are all one device node
// cannot be traced to their exporter, and the rules that compare an import with it are checked for names and
// KMT values only.
void WarnExporterUnknowable(const DebugReporter& reporter) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  reporter.Warning(
      "ntbridge-exporter-identity",
      "vkGetMemoryWin32HandleKHR: this driver's payload descriptors are all one device node and "
      "kcmp(2) is not permitted in this process, so an NT handle cannot be traced back to the "
      "memory that exported it: VUID-VkMemoryAllocateInfo-allocationSize-01743, "
      "VUID-VkImportMemoryWin32HandleInfoKHR-handle-00659 and -01518 and "
      "VUID-vkGetMemoryWin32HandlePropertiesKHR-handle-00665 are checked for names and KMT values "
      "only (allow kcmp in the seccomp profile to check them for NT handles too)");
}

VkResult ErrnoToResult(int err) {
  return (err == EMFILE || err == ENFILE) ? VK_ERROR_TOO_MANY_OBJECTS : VK_ERROR_OUT_OF_HOST_MEMORY;
}

// Import from an NT handle: the application keeps its handle, the driver gets a duplicate (it consumes fds).
// `st` receives fstat's answer for the handle.
VkResult OpenNtHandle(DeviceData& d, HANDLE handle, const VkMemoryAllocateInfo& info, OwnedFd& out,
                      struct stat& st) {
  const DebugReporter& reporter = d.instance->reporter;
  int fd = HandleToFd(handle);
  // One fstat answers both questions below: which payload this is, and whether it can be Vulkan memory.
  const bool stat_ok = fd >= 0 && fstat(fd, &st) == 0;
  // An exporter in this process is the precise reference; the descriptor's size is only a lower bound.
  if (stat_ok) {
    if (auto exporter = FindExportedPayload(fd, st)) {
      if (ReportViolations(
              reporter, ValidateImportFromExporter(info, *exporter, d.gpu.device_uuid, d.gpu.driver_uuid))) {
        return VK_ERROR_VALIDATION_FAILED_EXT;
      }
    }
  }
  std::string why;
  if (!CheckPayloadFd(fd, stat_ok ? &st : nullptr, info.allocationSize, &why)) {
    ReportFatalViolation(
        reporter, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-00661",
        std::string(kAllocate) + ": pAllocateInfo->pNext<VkImportMemoryWin32HandleInfoKHR>.handle " +
            Hex(handle) + " is not a valid VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT handle: " + why);
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return ErrnoToResult(errno);
  out.reset(dup);
  return VK_SUCCESS;
}

// Whether the driver closed the descriptor of an import that failed with `result`. The spec leaves it with
// the application, but Mesa's lavapipe closes it whenever reading the payload failed.
bool DriverTookRefusedDescriptor(const PhysicalDeviceInfo& gpu, VkResult result) {
  return gpu.driver_id == VK_DRIVER_ID_MESA_LLVMPIPE && result != VK_ERROR_OUT_OF_HOST_MEMORY;
}

// A new open file description of the memfd payload `payload`, opened through the descriptor `source`, or -1.
int OpenOwnDescription(int source, const struct stat& payload) {
  char path[40];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", source);
  OwnedFd fd(open(path, O_RDWR | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || st.st_dev != payload.st_dev ||
      st.st_ino != payload.st_ino) {
    return -1;
  }
  return fd.release();
}

// Mesa's lavapipe reads a memfd payload's header with lseek + read, through the file offset of the open file
// description, which every descriptor of the payload shares that the broker handed out or that came over
// SCM_RIGHTS: when processes import one payload at once, one moves the offset under another, and the driver
// refuses that import as an invalid handle. Such an import is tried once more, with an open file description
// of the layer's own that no other process can move. Only then: a description per import would cost every
// import a reopen and a final close (docs/performance.md).
//
// `fd_import` is in `down`'s chain; `import_fd` is the descriptor the driver refused, -1 where the driver
// closed it. Gets a descriptor to reopen from: that one, else the application's NT handle, else the broker.
VkResult RetryImportWithOwnDescription(DeviceData& d, const VkMemoryAllocateInfo& down,
                                       const VkAllocationCallbacks* allocator, VkDeviceMemory* memory,
                                       const VkImportMemoryWin32HandleInfoKHR& import,
                                       VkImportMemoryFdInfoKHR& fd_import, OwnedFd& import_fd,
                                       const struct stat& payload) {
  int source = import_fd.get();
  if (source < 0 && import.name == nullptr &&
      import.handleType == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT) {
    source = HandleToFd(import.handle);
  }
  OwnedFd from_broker;
  if (source < 0) {
    const ShareSubject subject{protocol::ObjectKind::kMemory, kAllocate,
                               "VkImportMemoryWin32HandleInfoKHR::name"};
    protocol::OpenReply reply;
    int fd = -1;
    if (OpenPayload(d, subject, import.handle, import.name, &reply, &fd) != VK_SUCCESS) {
      return VK_ERROR_INVALID_EXTERNAL_HANDLE;
    }
    from_broker.reset(fd);
    ReleasePayload(d, reply.payload);  // the import's own hold keeps the share
    source = fd;
  }
  OwnedFd own(OpenOwnDescription(source, payload));
  if (own.get() < 0) return VK_ERROR_INVALID_EXTERNAL_HANDLE;
  fd_import.fd = own.get();
  VkResult result = d.next.AllocateMemory(d.device, &down, allocator, memory);
  if (result == VK_SUCCESS || DriverTookRefusedDescriptor(d.gpu, result)) own.release();
  if (result == VK_SUCCESS) import_fd.reset(-1);  // the refused descriptor is no longer needed
  return result;
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL AllocateMemory(VkDevice device, const VkMemoryAllocateInfo* info,
                                              const VkAllocationCallbacks* allocator,
                                              VkDeviceMemory* memory) {
  DeviceData* d = DeviceOf(device);
  if (!d->win32_enabled || info == nullptr || memory == nullptr) {
    return d->next.AllocateMemory(device, info, allocator, memory);
  }
  if (info->pNext == nullptr) {
    // A plain allocation: no rule of the extension applies, only the record is needed (for the rules of a
    // later vkGetMemoryWin32HandleKHR on it).
    VkResult result = d->next.AllocateMemory(device, info, allocator, memory);
    if (result == VK_SUCCESS) {
      MemoryRecord record;
      record.allocation_size = info->allocationSize;
      record.memory_type_index = info->memoryTypeIndex;
      d->memories.Add(*memory, std::move(record));
    }
    return result;
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
  if (ReportViolations(reporter, ValidateAllocateMemory(*info))) return VK_ERROR_VALIDATION_FAILED_EXT;

  MemoryRecord record;
  record.allocation_size = info->allocationSize;
  record.memory_type_index = info->memoryTypeIndex;
  record.dedicated = FindInChain(info->pNext, VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO) != nullptr;

  if (export_info != nullptr) {
    record.export_types = export_info->handleTypes;
    export_info->handleTypes = ToDriverTypes(export_info->handleTypes);
  }
  if (win32_export != nullptr) {
    // Without OPAQUE_WIN32 in the export types (00657, reported above) the structure has nothing to describe.
    if (record.export_types & VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT) {
      record.has_win32_export_info = true;
      record.access = win32_export->dwAccess == 0 ? GENERIC_ALL : win32_export->dwAccess;
      record.inherit_handle =
          win32_export->pAttributes != nullptr && win32_export->pAttributes->bInheritHandle;
      if (win32_export->name != nullptr) record.name = win32_export->name;
    }
    chain.Remove(VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
  }

  OwnedFd import_fd;
  struct stat payload {};  // of the imported descriptor
  VkImportMemoryFdInfoKHR fd_import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR};
  if (win32_import != nullptr) {
    chain.Remove(VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR);
    VkExternalMemoryHandleTypeFlagBits type = win32_import->handleType;
    // handleType 0: the structure is ignored (no import). Every other type is OPAQUE_WIN32 or
    // OPAQUE_WIN32_KMT here: ValidateAllocateMemory refused the rest.
    if (type != 0) {
      VkResult r;
      if (type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT && win32_import->name == nullptr) {
        r = OpenNtHandle(*d, win32_import->handle, *info, import_fd, payload);
      } else {
        int fd = -1;
        r = OpenShare(*d, type, win32_import->handle, win32_import->name, *info, record, &fd, &payload);
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
  if (result != VK_SUCCESS && fd_import.handleType != 0) {
    if (DriverTookRefusedDescriptor(d->gpu, result)) import_fd.release();
    if (result == VK_ERROR_INVALID_EXTERNAL_HANDLE && S_ISREG(payload.st_mode)) {
      result = RetryImportWithOwnDescription(*d, down, allocator, memory, *win32_import, fd_import, import_fd,
                                             payload);
    }
  }
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
  d->memories.Add(*memory, std::move(record));
  return VK_SUCCESS;
}

VKAPI_ATTR void VKAPI_CALL FreeMemory(VkDevice device, VkDeviceMemory memory,
                                      const VkAllocationCallbacks* allocator) {
  DeviceData* d = DeviceOf(device);
  if (memory != VK_NULL_HANDLE) {
    if (auto record = d->memories.Remove(memory)) {
      if (record->exported_payload != 0) ForgetExportedPayload(record->exported_payload);
      if (record->exported_description >= 0) ForgetExportedDescription(record->exported_description);
      if (record->broker_payload != 0) ReleaseShare(*d, *record);
    }
  }
  d->next.FreeMemory(device, memory, allocator);
}

VKAPI_ATTR VkResult VKAPI_CALL GetMemoryWin32HandleKHR(VkDevice device,
                                                       const VkMemoryGetWin32HandleInfoKHR* info,
                                                       HANDLE* handle) {
  DeviceData* d = DeviceOf(device);
  if (d == nullptr) {
    return UnknownDeviceReport("VUID-vkGetMemoryWin32HandleKHR-device-parameter", "vkGetMemoryWin32HandleKHR",
                               device);
  }
  const DebugReporter& reporter = d->instance->reporter;
  // One visit to the record under the table's lock checks the rules and, for an NT handle, does 00663's
  // check-and-set, so two threads racing for the same handle cannot both pass.
  Violations violations;
  bool first = false;
  VkDeviceSize allocation_size = 0;
  uint32_t memory_type_index = 0;
  bool inherit_handle = false;
  std::optional<MemoryRecord> kmt_record;  // what GetGlobalShare needs, copied on the same visit
  const bool found =
      d->win32_enabled && info != nullptr && d->memories.Update(info->memory, [&](MemoryRecord& m) {
        violations = ValidateGetMemoryWin32Handle(true, info, handle, &m);
        if (!violations.empty()) return;
        allocation_size = m.allocation_size;
        memory_type_index = m.memory_type_index;
        inherit_handle = m.inherit_handle;
        if (info->handleType == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT) {
          first = (m.nt_handles_fetched & info->handleType) == 0;
          m.nt_handles_fetched |= info->handleType;
        } else {
          kmt_record = m;
        }
      });
  if (!found) violations = ValidateGetMemoryWin32Handle(d->win32_enabled, info, handle, nullptr);
  if (ReportViolations(reporter, violations)) return VK_ERROR_VALIDATION_FAILED_EXT;
  const VkExternalMemoryHandleTypeFlagBits type = info->handleType;

  if (type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT) {
    uint32_t kmt = 0;
    VkResult r = GetGlobalShare(*d, info->memory, *kmt_record, &kmt);
    if (r != VK_SUCCESS) return r;
    d->memories.Update(info->memory, [&](MemoryRecord& m) {
      m.kmt = kmt_record->kmt;
      m.broker_payload = kmt_record->broker_payload;
    });
    *handle = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(kmt));
    return VK_SUCCESS;
  }

  if (!first && ReportViolations(reporter, {NtHandleFetchedTwice(info->memory, type)})) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  auto forget_fetch = [&] {
    if (first) d->memories.Update(info->memory, [&](MemoryRecord& m) { m.nt_handles_fetched &= ~type; });
  };

  VkMemoryGetFdInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR, nullptr, info->memory,
                           VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
  int fd = -1;
  VkResult r = d->next.GetMemoryFdKHR(device, &get, &fd);
  if (r != VK_SUCCESS) {
    forget_fetch();
    // vkGetMemoryWin32HandleKHR may fail only with these two; NVIDIA's driver answers
    // VK_ERROR_INITIALIZATION_FAILED when the process is out of descriptors.
    if (r != VK_ERROR_TOO_MANY_OBJECTS && r != VK_ERROR_OUT_OF_HOST_MEMORY) r = NoDescriptorResult();
    return r;
  }
  if (fd < 0) {
    // Drivers answer success with -1 for memory they did not make exportable; that is never a handle.
    reporter.Warning("ntbridge-driver-export",
                     "vkGetMemoryWin32HandleKHR: the driver returned no descriptor for memory " +
                         Hex(uint64_t(info->memory)));
    forget_fetch();
    return NoDescriptorResult();
  }
  // The first export of each memory type teaches the layer what the driver's descriptors are: their kind (so
  // imports can be recognised) and whether they come close-on-exec already (Mesa's and NVIDIA's do), in which
  // case the NT handle needs no fcntl of its own.
  const uint32_t bit = 1u << (memory_type_index % 32);
  bool driver_fd_is_cloexec;
  if ((d->payload_kinds_learned.load(std::memory_order_acquire) & bit) == 0) {
    uint64_t node = 0;
    // The test setting makes a driver whose descriptors identify their payloads look like NVIDIA's, so that
    // identification by open file description is tested where no such driver is.
    if (LearnPayloadKind(fd, &node) == PayloadIdentity::kShared || GetSettings().test_shared_payload_ids) {
      d->payload_nodes[memory_type_index % 32].store(node, std::memory_order_relaxed);
      d->payload_ids_shared.fetch_or(bit, std::memory_order_relaxed);
    }
    // This thread goes by what it saw on its own descriptor, not by what another one learned meanwhile.
    driver_fd_is_cloexec = IsCloseOnExec(fd);
    if (driver_fd_is_cloexec) d->driver_fds_cloexec.fetch_or(bit, std::memory_order_relaxed);
    d->payload_kinds_learned.fetch_or(bit, std::memory_order_release);
  } else {
    driver_fd_is_cloexec = (d->driver_fds_cloexec.load(std::memory_order_relaxed) & bit) != 0;
  }
  fd = MakeNtHandle(fd, inherit_handle, driver_fd_is_cloexec);
  if (fd < 0) {
    forget_fetch();
    return ErrnoToResult(errno);
  }
  // Remembered so that an import of this handle can be checked against its exporter (01743, 00659, 01518,
  // 00665): by the payload's inode, or where every payload of this memory type is the same device node
  // (NVIDIA) by the handle's open file description, of which the record keeps a duplicate until the memory
  // is freed.
  ExportedPayload payload;
  payload.allocation_size = allocation_size;
  payload.memory_type_index = memory_type_index;
  std::memcpy(payload.device_uuid, d->gpu.device_uuid, VK_UUID_SIZE);
  std::memcpy(payload.driver_uuid, d->gpu.driver_uuid, VK_UUID_SIZE);
  if ((d->payload_ids_shared.load(std::memory_order_relaxed) & bit) == 0) {
    if (uint64_t id = UniquePayloadId(fd); id != 0) {
      RecordExportedPayload(id, payload);
      d->memories.Update(info->memory, [&](MemoryRecord& m) { m.exported_payload = id; });
    }
  } else {
    const int kept = RecordExportedDescription(
        fd, d->payload_nodes[memory_type_index % 32].load(std::memory_order_relaxed), payload);
    if (kept >= 0) {
      // Freed meanwhile by another thread (invalid usage): the record is gone, so is the duplicate.
      if (!d->memories.Update(info->memory, [&](MemoryRecord& m) { m.exported_description = kept; })) {
        ForgetExportedDescription(kept);
      }
    } else if (!ExportedDescriptionsComparable()) {
      WarnExporterUnknowable(reporter);
    }
  }
  *handle = FdToHandle(fd);
  return VK_SUCCESS;
}

VKAPI_ATTR VkResult VKAPI_CALL
GetMemoryWin32HandlePropertiesKHR(VkDevice device, VkExternalMemoryHandleTypeFlagBits type, HANDLE handle,
                                  VkMemoryWin32HandlePropertiesKHR* properties) {
  DeviceData* d = DeviceOf(device);
  if (d == nullptr) {
    return UnknownDeviceReport("VUID-vkGetMemoryWin32HandlePropertiesKHR-device-parameter",
                               "vkGetMemoryWin32HandlePropertiesKHR", device);
  }
  const DebugReporter& reporter = d->instance->reporter;
  const int fd = HandleToFd(handle);
  struct stat st {};
  const bool made_by_vulkan = fd >= 0 && fstat(fd, &st) == 0 && FindExportedPayload(fd, st).has_value();
  if (ReportViolations(reporter, ValidateGetMemoryWin32HandleProperties(d->win32_enabled, type, handle,
                                                                        properties, made_by_vulkan))) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  // Only Direct3D handles are non-opaque Win32 types, and no Direct3D resource exists on Linux.
  reporter.Warning("ntbridge-no-d3d", "vkGetMemoryWin32HandlePropertiesKHR: handle " + Hex(handle) +
                                          " of type " + HandleTypeName(type) +
                                          " cannot exist on Linux (no Direct3D)");
  return VK_ERROR_INVALID_EXTERNAL_HANDLE;
}

}  // namespace ntbridge
