// The handle model of semaphores and fences (DESIGN.md §2, §7), for both kinds and both payloads.
#include "sync.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "nt_handle.hpp"
#include "share_name.hpp"
#include "shared_payload/sync_state.hpp"
#include "shares.hpp"
#include "validation.hpp"
#include "validation/exported_payloads.hpp"
#include "validation/sync_rules.hpp"

namespace ntbridge {

const SyncSubject kSemaphoreSubject{
    SyncKind::kSemaphore, "vkGetSemaphoreWin32HandleKHR",        "vkImportSemaphoreWin32HandleKHR",
    "vkCreateSemaphore",  "VkExportSemaphoreWin32HandleInfoKHR", "VkImportSemaphoreWin32HandleInfoKHR"};
const SyncSubject kFenceSubject{
    SyncKind::kFence, "vkGetFenceWin32HandleKHR",        "vkImportFenceWin32HandleKHR",
    "vkCreateFence",  "VkExportFenceWin32HandleInfoKHR", "VkImportFenceWin32HandleInfoKHR"};

namespace {

constexpr const char* kId = "ntbridge-sync";

// PayloadInfo::object_flags of sync payloads (opaque to the broker; the tool reads them too).
constexpr uint32_t kFlagTimeline = protocol::kSyncFlagTimeline;
constexpr uint32_t kFlagSharedPayload = protocol::kSyncFlagSharedPayload;

protocol::ObjectKind BrokerKind(SyncKind kind) {
  return kind == SyncKind::kFence ? protocol::ObjectKind::kFence : protocol::ObjectKind::kSemaphore;
}

shared_payload::Kind StateKind(SyncKind kind, VkSemaphoreType type) {
  if (kind == SyncKind::kFence) return shared_payload::Kind::kFence;
  return type == VK_SEMAPHORE_TYPE_TIMELINE ? shared_payload::Kind::kTimelineSemaphore
                                            : shared_payload::Kind::kBinarySemaphore;
}

// Whether a reference counts in DeviceData::submit_tracked.
bool Tracked(const SyncPayloadRef& ref, bool temporary) {
  return temporary || ref.kind == SyncPayload::kShared;
}

void Hold(DeviceData& d, const SyncPayloadRef& ref, bool temporary) {
  if (Tracked(ref, temporary)) d.submit_tracked.fetch_add(1, std::memory_order_relaxed);
}

void Drop(DeviceData& d, SyncPayloadRef& ref, bool temporary) {
  if (Tracked(ref, temporary)) d.submit_tracked.fetch_sub(1, std::memory_order_relaxed);
  ReleasePayload(d, ref.broker_payload);
  ref = {};
}

protocol::PayloadInfo InfoOf(const DeviceData& d, const SyncRecord& record, const SyncPayloadRef& ref) {
  protocol::PayloadInfo info;
  info.access = record.access == 0 ? GENERIC_ALL : record.access;
  info.object_flags = (record.semaphore_type == VK_SEMAPHORE_TYPE_TIMELINE ? kFlagTimeline : 0) |
                      (ref.kind == SyncPayload::kShared ? kFlagSharedPayload : 0);
  std::memcpy(info.device_uuid, d.gpu.device_uuid, VK_UUID_SIZE);
  std::memcpy(info.driver_uuid, d.gpu.driver_uuid, VK_UUID_SIZE);
  return info;
}

VkResult ErrnoResult(int err) {
  return (err == EMFILE || err == ENFILE) ? VK_ERROR_TOO_MANY_OBJECTS : VK_ERROR_OUT_OF_HOST_MEMORY;
}

// A new descriptor of the payload `ref` of `object`, which the caller owns: a duplicate of the shared
// payload's memfd, or the driver's opaque fd. -1 with the result in `*result` on failure.
int PayloadFd(DeviceData& d, const SyncSubject& subject, uint64_t object, const SyncPayloadRef& ref,
              VkResult* result) {
  *result = VK_SUCCESS;
  if (ref.kind == SyncPayload::kShared) {
    int fd = fcntl(ref.shared->fd(), F_DUPFD_CLOEXEC, 1);
    if (fd < 0) *result = ErrnoResult(errno);
    return fd;
  }
  int fd = -1;
  VkResult r;
  if (subject.kind == SyncKind::kSemaphore) {
    VkSemaphoreGetFdInfoKHR get{VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR, nullptr,
                                reinterpret_cast<VkSemaphore>(object),
                                VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT};
    r = d.next.GetSemaphoreFdKHR(d.device, &get, &fd);
  } else {
    VkFenceGetFdInfoKHR get{VK_STRUCTURE_TYPE_FENCE_GET_FD_INFO_KHR, nullptr,
                            reinterpret_cast<VkFence>(object), VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT};
    r = d.next.GetFenceFdKHR(d.device, &get, &fd);
  }
  if (r != VK_SUCCESS || fd < 0) {
    d.instance->reporter.Warning(kId, std::string(subject.get_command) +
                                          ": the driver exported no descriptor for " + Hex(object) +
                                          " (VkResult " + std::to_string(r) + ")");
    *result = (r == VK_ERROR_TOO_MANY_OBJECTS || r == VK_ERROR_OUT_OF_HOST_MEMORY) ? r : NoDescriptorResult();
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

template <typename F>
bool UpdateRecord(DeviceData& d, SyncKind kind, uint64_t object, F&& f) {
  return kind == SyncKind::kSemaphore ? d.semaphores.Update(reinterpret_cast<VkSemaphore>(object), f)
                                      : d.fences.Update(reinterpret_cast<VkFence>(object), f);
}

std::optional<SyncRecord> FindRecord(DeviceData& d, SyncKind kind, uint64_t object) {
  return kind == SyncKind::kSemaphore ? d.semaphores.Find(reinterpret_cast<VkSemaphore>(object))
                                      : d.fences.Find(reinterpret_cast<VkFence>(object));
}

// The reference a payload identity designates in `record` (current one first), or nullptr.
SyncPayloadRef* CurrentRef(SyncRecord& record) {
  return record.temporary ? &*record.temporary : &record.permanent;
}

// The NT handle `fd` of the driver's payload `ref` of `object`, just exported: recorded by its open file
// description (a driver's opaque sync fd does not identify its payload), so that an import of it in this
// process is checked against this object (semaphoreType, device, kind). The reference holds the record.
void RecordDriverExport(DeviceData& device, const SyncSubject& subject, uint64_t object,
                        const SyncRecord& record, const SyncPayloadRef& ref, int fd) {
  SyncExporter exporter;
  exporter.kind = subject.kind;
  exporter.semaphore_type = record.semaphore_type;
  exporter.create_flags = record.create_flags;
  std::memcpy(exporter.device_uuid, device.gpu.device_uuid, VK_UUID_SIZE);
  std::memcpy(exporter.driver_uuid, device.gpu.driver_uuid, VK_UUID_SIZE);
  auto exported = RecordExportedSyncPayload(fd, exporter);
  if (!exported) return;
  UpdateRecord(device, subject.kind, object, [&](SyncRecord& rec) {
    SyncPayloadRef* current = CurrentRef(rec);
    // Replaced meanwhile by an import: the handle's payload is no longer this object's, nothing to trace.
    if (current->kind != ref.kind || current->broker_payload != ref.broker_payload ||
        current->import_type != ref.import_type) {
      return;
    }
    current->exported = std::move(exported);
  });
}

// What an import names, for messages: the NT handle, the global share (KMT) handle or the name.
std::string ImportSource(const SyncImport& import) {
  if (import.name != nullptr) return "the name \"" + WideToUtf8(import.name).value_or("?") + "\"";
  if (import.handle_type == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT) {
    return "NT handle " + Hex(import.handle);
  }
  return "global share handle " + Hex(import.handle);
}

}  // namespace

bool UsesDriverPayload(const DeviceData& device, SyncKind kind, VkSemaphoreType type) {
  if (kind == SyncKind::kFence) return device.gpu.fence_driver_payload;
  return type == VK_SEMAPHORE_TYPE_TIMELINE ? device.gpu.timeline_semaphore_driver_payload
                                            : device.gpu.semaphore_driver_payload;
}

VkResult SetUpExport(DeviceData& device, const SyncSubject& subject, uint64_t object, SyncRecord& record) {
  if ((record.export_types & kSyncOpaqueWin32Types) == 0) return VK_SUCCESS;
  if (UsesDriverPayload(device, subject.kind, record.semaphore_type)) {
    record.permanent.kind = SyncPayload::kDriver;
  } else {
    uint64_t initial = subject.kind == SyncKind::kFence
                           ? ((record.create_flags & VK_FENCE_CREATE_SIGNALED_BIT) ? 1 : 0)
                           : (record.semaphore_type == VK_SEMAPHORE_TYPE_TIMELINE ? record.initial_value : 0);
    std::string error;
    auto state =
        shared_payload::SyncState::Create(StateKind(subject.kind, record.semaphore_type), initial, &error);
    if (!state) {
      device.instance->reporter.Warning(
          kId, std::string(subject.create_command) +
                   ": cannot create the shared payload of an exportable object: " + error);
      return VK_ERROR_OUT_OF_HOST_MEMORY;
    }
    record.permanent.kind = SyncPayload::kShared;
    record.permanent.shared = std::move(state);
  }
  Hold(device, record.permanent, false);
  if (!record.name.empty()) {
    VkResult r = VK_SUCCESS;
    int fd = PayloadFd(device, subject, object, record.permanent, &r);
    if (fd < 0) {
      Drop(device, record.permanent, false);
      return r;
    }
    const std::string field = std::string(subject.export_struct) + "::name";
    const ShareSubject share{BrokerKind(subject.kind), subject.create_command, field.c_str()};
    r = PublishPayload(device, share, InfoOf(device, record, record.permanent), record.name.c_str(), false,
                       fd, &record.permanent.broker_payload, nullptr);
    if (r != VK_SUCCESS) {
      Drop(device, record.permanent, false);
      return r;
    }
  }
  return VK_SUCCESS;
}

VkResult GetSyncHandle(DeviceData& device, const SyncSubject& subject, uint64_t object, uint32_t handle_type,
                       HANDLE* handle) {
  std::optional<SyncRecord> record = FindRecord(device, subject.kind, object);
  if (!record) return VK_ERROR_OUT_OF_HOST_MEMORY;  // destroyed while the call ran: the rules saw it alive
  const SyncPayloadRef ref = record->current();
  if (handle_type == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT) {
    VkResult r = VK_SUCCESS;
    int fd = PayloadFd(device, subject, object, ref, &r);
    if (fd < 0) return r;
    fd = MakeNtHandle(fd, record->inherit_handle, ref.kind == SyncPayload::kShared || IsCloseOnExec(fd));
    if (fd < 0) return ErrnoResult(errno);
    if (ref.kind == SyncPayload::kDriver) RecordDriverExport(device, subject, object, *record, ref, fd);
    *handle = FdToHandle(fd);
    return VK_SUCCESS;
  }
  // A KMT value: the same for every call while the payload lives.
  if (ref.kmt != 0) {
    *handle = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(ref.kmt));
    return VK_SUCCESS;
  }
  const ShareSubject share{BrokerKind(subject.kind), subject.get_command, ""};
  uint32_t kmt = 0;
  uint64_t payload = ref.broker_payload;
  bool published = false;
  if (payload != 0) {
    bool lost = false;
    VkResult r = ShareKmtOf(device, share, payload, &kmt, &lost);
    if (r != VK_SUCCESS && !lost) return r;
    if (lost) payload = 0;
  }
  if (payload == 0) {
    VkResult r = VK_SUCCESS;
    int fd = PayloadFd(device, subject, object, ref, &r);
    if (fd < 0) return r;
    r = PublishPayload(device, share, InfoOf(device, *record, ref), nullptr, true, fd, &payload, &kmt);
    if (r != VK_SUCCESS) return r;
    published = true;
  }
  // Another thread may have done the same meanwhile: the first value set stays, a second hold is let go.
  uint32_t result = kmt;
  bool keep = false;
  UpdateRecord(device, subject.kind, object, [&](SyncRecord& rec) {
    SyncPayloadRef* current = CurrentRef(rec);
    if (current->shared != ref.shared || current->kind != ref.kind) return;  // replaced meanwhile
    if (current->kmt != 0) {
      result = current->kmt;
      return;
    }
    current->kmt = kmt;
    if (published) {
      // A hold by name the dead broker took with it is replaced by the new registration.
      current->broker_payload = payload;
      keep = true;
    }
  });
  if (published && !keep) ReleasePayload(device, payload);
  *handle = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(result));
  return VK_SUCCESS;
}

VkResult ImportSyncHandle(DeviceData& device, const SyncSubject& subject, const SyncImport& import) {
  const DebugReporter& reporter = device.instance->reporter;
  const bool semaphore = subject.kind == SyncKind::kSemaphore;
  const char* handle_vuid = semaphore ? "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468"
                                      : "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461";
  std::optional<SyncRecord> record = FindRecord(device, subject.kind, import.object);
  if (!record) return VK_ERROR_OUT_OF_HOST_MEMORY;  // destroyed while the call ran

  // 1. A descriptor of the payload that this function owns, and what is known of its exporter.
  SyncPayloadRef ref;
  ref.import_type = import.handle_type;
  int fd = -1;
  std::optional<SyncExporter> exporter;
  bool from_broker = false;
  if (import.handle_type == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT && import.name == nullptr) {
    int app_fd = HandleToFd(import.handle);
    // Importing never takes the application's handle: the payload gets a descriptor of its own.
    fd = app_fd < 0 ? -1 : fcntl(app_fd, F_DUPFD_CLOEXEC, 1);
    if (fd < 0) {
      int err = app_fd < 0 ? EBADF : errno;
      if (err == EMFILE || err == ENFILE) return VK_ERROR_TOO_MANY_OBJECTS;
      ReportFatalViolation(
          reporter, handle_vuid,
          std::string(subject.import_command) + ": " + subject.import_struct + "->handle " +
              Hex(import.handle) +
              " is not an open NT handle (descriptor) of this process: " + std::strerror(err));
      return VK_ERROR_VALIDATION_FAILED_EXT;
    }
    // A driver payload exported as an NT handle in this process (directly, duplicated, or back from another
    // process) is known by its open file description.
    exporter = FindExportedSyncPayload(fd);
    if (exporter && exporter->kind != subject.kind) {
      ReportFatalViolation(reporter, handle_vuid,
                           std::string(subject.import_command) + ": handle " + Hex(import.handle) +
                               " was exported from a " + (semaphore ? "fence" : "semaphore") + ", not a " +
                               (semaphore ? "semaphore" : "fence"));
      close(fd);
      return VK_ERROR_VALIDATION_FAILED_EXT;
    }
  } else {
    const std::string field = std::string(subject.import_struct) + "::name";
    const ShareSubject share{BrokerKind(subject.kind), subject.import_command, field.c_str()};
    protocol::OpenReply reply;
    VkResult r = OpenPayload(device, share, import.handle, import.name, &reply, &fd);
    if (r != VK_SUCCESS) return r;
    from_broker = true;
    ref.broker_payload = reply.payload;
    ref.kmt = reply.kmt;
    SyncExporter e;
    e.kind = subject.kind;
    e.semaphore_type =
        (reply.info.object_flags & kFlagTimeline) ? VK_SEMAPHORE_TYPE_TIMELINE : VK_SEMAPHORE_TYPE_BINARY;
    std::memcpy(e.device_uuid, reply.info.device_uuid, VK_UUID_SIZE);
    std::memcpy(e.driver_uuid, reply.info.driver_uuid, VK_UUID_SIZE);
    exporter = e;
  }
  auto fail = [&](VkResult r) {
    if (fd >= 0) close(fd);
    if (from_broker) ReleasePayload(device, ref.broker_payload);
    return r;
  };

  // 2. Which payload it is: the layer's shared payload (a sealed memfd page), or the driver's.
  std::string why;
  auto state = shared_payload::SyncState::Open(fd, &why);
  if (state) {
    const shared_payload::Kind k = state->kind();
    const bool kind_ok = semaphore ? k != shared_payload::Kind::kFence : k == shared_payload::Kind::kFence;
    if (!kind_ok) {
      ReportFatalViolation(
          reporter, handle_vuid,
          std::string(subject.import_command) + ": the payload of " +
              (import.name != nullptr ? std::string("the name") : "handle " + Hex(import.handle)) + " is a " +
              shared_payload::KindName(k) + ", not a " + (semaphore ? "semaphore" : "fence"));
      return fail(VK_ERROR_VALIDATION_FAILED_EXT);
    }
    if (!exporter) {
      // The page tells the semaphore type; the physical device of an NT handle's exporter is not recorded in
      // it (a shared payload works between any devices of the user), so it is taken to be this one.
      SyncExporter e;
      e.kind = subject.kind;
      e.semaphore_type = k == shared_payload::Kind::kTimelineSemaphore ? VK_SEMAPHORE_TYPE_TIMELINE
                                                                       : VK_SEMAPHORE_TYPE_BINARY;
      e.create_flags = record->create_flags;
      std::memcpy(e.device_uuid, device.gpu.device_uuid, VK_UUID_SIZE);
      std::memcpy(e.driver_uuid, device.gpu.driver_uuid, VK_UUID_SIZE);
      exporter = e;
    }
    ref.kind = SyncPayload::kShared;
    ref.shared = std::move(state);
  } else {
    ref.kind = SyncPayload::kDriver;
  }
  if (exporter) {
    exporter->create_flags = record->create_flags;  // VkSemaphoreCreateFlags/VkFenceCreateFlags: none defined
    Violations v = semaphore ? ValidateImportSemaphoreFromExporter(
                                   *static_cast<const VkImportSemaphoreWin32HandleInfoKHR*>(import.info),
                                   *record, *exporter, device.gpu.device_uuid, device.gpu.driver_uuid)
                             : ValidateImportFenceFromExporter(
                                   *static_cast<const VkImportFenceWin32HandleInfoKHR*>(import.info), *record,
                                   *exporter, device.gpu.device_uuid, device.gpu.driver_uuid);
    if (ReportViolations(reporter, v)) return fail(VK_ERROR_VALIDATION_FAILED_EXT);
  }
  if (semaphore && ref.kind == SyncPayload::kShared && record->semaphore_type == VK_SEMAPHORE_TYPE_TIMELINE &&
      !device.timeline_host_hooked) {
    // The host commands of this device's timeline semaphores go to the driver past the layer
    // (DeviceData::timeline_host_hooked), which knows nothing of a shared payload.
    reporter.Warning(kId,
                     std::string(subject.import_command) + ": cannot import " + ImportSource(import) +
                         " into timeline semaphore " + Hex(import.object) + ": it holds a " +
                         shared_payload::KindName(ref.shared->kind()) +
                         " payload of ntbridge's own (a shared payload), made by a device whose driver "
                         "has no external timeline semaphores, while this device's timeline semaphores "
                         "use its driver's own payloads; semaphore payloads are shared only between "
                         "devices of the same driverUUID and deviceUUID, so import it on a device of the "
                         "driver that exported it");
    return fail(VK_ERROR_INVALID_EXTERNAL_HANDLE);
  }
  if (ref.kind == SyncPayload::kShared) {
    close(fd);  // the mapping keeps a descriptor of its own
    fd = -1;
  } else {
    const bool driver_can =
        semaphore ? device.gpu.has_external_semaphore_fd : device.gpu.has_external_fence_fd;
    if (!driver_can) {
      ReportFatalViolation(reporter, handle_vuid,
                           std::string(subject.import_command) + ": " +
                               (import.name != nullptr ? std::string("the payload of the name")
                                                       : "handle " + Hex(import.handle)) +
                               " is not a ntbridge " + (semaphore ? "semaphore" : "fence") + " payload (" +
                               why + "), and this driver imports no payload of its own");
      return fail(VK_ERROR_VALIDATION_FAILED_EXT);
    }
    // Nothing reaches the driver that cannot be one of its payloads (NVIDIA answers a pipe with an out of
    // memory error, not VK_ERROR_INVALID_EXTERNAL_HANDLE).
    std::string not_payload;
    if (!CheckPayloadFd(fd, 0, &not_payload)) {
      ReportFatalViolation(reporter, handle_vuid,
                           std::string(subject.import_command) + ": " +
                               (import.name != nullptr ? std::string("the payload of the name")
                                                       : "handle " + Hex(import.handle)) +
                               " is not a " + (semaphore ? "semaphore" : "fence") +
                               " payload: " + not_payload);
      return fail(VK_ERROR_VALIDATION_FAILED_EXT);
    }
    VkResult r;
    if (semaphore) {
      VkImportSemaphoreFdInfoKHR fd_info{
          VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR,
          nullptr,
          reinterpret_cast<VkSemaphore>(import.object),
          import.temporary ? VkSemaphoreImportFlags(VK_SEMAPHORE_IMPORT_TEMPORARY_BIT) : 0u,
          VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT,
          fd};
      r = device.next.ImportSemaphoreFdKHR(device.device, &fd_info);
    } else {
      VkImportFenceFdInfoKHR fd_info{
          VK_STRUCTURE_TYPE_IMPORT_FENCE_FD_INFO_KHR,
          nullptr,
          reinterpret_cast<VkFence>(import.object),
          import.temporary ? VkFenceImportFlags(VK_FENCE_IMPORT_TEMPORARY_BIT) : 0u,
          VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT,
          fd};
      r = device.next.ImportFenceFdKHR(device.device, &fd_info);
    }
    if (r != VK_SUCCESS) {
      if (r == VK_ERROR_INVALID_EXTERNAL_HANDLE) {
        ReportFatalViolation(
            reporter, handle_vuid,
            std::string(subject.import_command) + ": the driver refused the payload of " +
                (import.name != nullptr ? std::string("the name") : "handle " + Hex(import.handle)) +
                " as an opaque " + (semaphore ? "semaphore" : "fence") + " payload");
        return fail(VK_ERROR_VALIDATION_FAILED_EXT);
      }
      return fail(r);
    }
    fd = -1;  // the driver owns it now
  }

  // 3. It becomes the object's payload: until the spec restores the permanent one, or for good.
  SyncPayloadRef dropped_temporary, dropped_permanent;
  bool had_temporary = false, had_permanent = false;
  bool found = UpdateRecord(device, subject.kind, import.object, [&](SyncRecord& rec) {
    if (rec.temporary) {
      dropped_temporary = std::move(*rec.temporary);
      rec.temporary.reset();
      had_temporary = true;
    }
    if (import.temporary) {
      rec.temporary = ref;
    } else {
      dropped_permanent = std::move(rec.permanent);
      had_permanent = true;
      rec.permanent = ref;
    }
    if (!semaphore) rec.fence_pending = false;
  });
  if (!found) {
    if (from_broker) ReleasePayload(device, ref.broker_payload);
    return VK_ERROR_OUT_OF_HOST_MEMORY;
  }
  Hold(device, ref, import.temporary);
  if (had_temporary) Drop(device, dropped_temporary, true);
  if (had_permanent) Drop(device, dropped_permanent, false);
  return VK_SUCCESS;
}

void DropTemporary(DeviceData& device, SyncPayloadRef& ref) { Drop(device, ref, true); }

void DropRecord(DeviceData& device, SyncRecord& record) {
  if (record.temporary) Drop(device, *record.temporary, true);
  record.temporary.reset();
  Drop(device, record.permanent, false);
}

}  // namespace ntbridge
