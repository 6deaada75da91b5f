// Global share (KMT) values and named handles through the per-user broker (DESIGN.md §4). The broker keeps a
// descriptor of each shared payload and who holds it; this file turns Vulkan calls into its requests and its
// answers into Vulkan results and messages.
#include "shares.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "broker_client.hpp"
#include "nt_handle.hpp"
#include "settings.hpp"
#include "share_name.hpp"
#include "validation.hpp"

namespace ntbridge {
namespace {

using protocol::Status;

constexpr const char* kId = "ntbridge-broker";
constexpr const char* kAllocate = "vkAllocateMemory";
constexpr const char* kGetHandle = "vkGetMemoryWin32HandleKHR";

// One connection per process, never destroyed: memory may be freed by atexit handlers that run after static
// destructors.
BrokerClient& Client() {
  static BrokerClient* client = new BrokerClient();
  static std::once_flag once;
  static std::string broker_path;
  std::call_once(once, [] { broker_path = ReadSetting("broker_path").value_or(""); });
  client->SetOptions({GetSettings().broker_socket, broker_path, true});
  return *client;
}

// Payloads each device holds, so that vkDestroyDevice can let go of those whose memory was never freed.
std::mutex g_held_mutex;
std::unordered_map<const DeviceData*, std::unordered_multiset<uint64_t>> g_held;
// Serialises the first KMT request of a memory object, so two threads cannot register it twice.
std::mutex g_kmt_mutex;

void Track(const DeviceData& d, uint64_t payload) {
  std::lock_guard lock(g_held_mutex);
  g_held[&d].insert(payload);
}
void Untrack(const DeviceData& d, uint64_t payload) {
  std::lock_guard lock(g_held_mutex);
  auto it = g_held.find(&d);
  if (it == g_held.end()) return;
  if (auto p = it->second.find(payload); p != it->second.end()) it->second.erase(p);
  if (it->second.empty()) g_held.erase(it);
}

}  // namespace

std::string UuidString(const uint8_t* u) {
  char s[40];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
                u[15]);
  return s;
}

namespace {

std::string Uuid(const uint8_t* u) { return UuidString(u); }

// What messages call an object of `kind`.
const char* Noun(protocol::ObjectKind kind) {
  switch (kind) {
    case protocol::ObjectKind::kSemaphore:
      return "semaphore";
    case protocol::ObjectKind::kFence:
      return "fence";
    default:
      return "memory object";
  }
}

protocol::PayloadInfo InfoOf(const DeviceData& d, const MemoryRecord& record) {
  protocol::PayloadInfo info;
  info.allocation_size = record.allocation_size;
  info.memory_type_index = record.memory_type_index;
  info.access = record.access == 0 ? GENERIC_ALL : record.access;
  std::memcpy(info.device_uuid, d.gpu.device_uuid, VK_UUID_SIZE);
  std::memcpy(info.driver_uuid, d.gpu.driver_uuid, VK_UUID_SIZE);
  return info;
}

// One-way: vkFreeMemory does not wait for the broker, which still takes the release before it answers any
// request sent after this returns (protocol.hpp). A release the broker refuses is in its log.
void Release(const DeviceData& d, uint64_t payload) {
  std::string error;
  if (!Client().ReleaseOneWay(payload, &error)) {
    // A broker that is gone took this process's holds with it (nothing is lost); one that is stalled still
    // holds the payload until the kept release reaches it.
    if (Client().BrokerRevision() == 0) {
      d.instance->reporter.Info(kId, "releasing a shared payload: " + error);
    } else {
      d.instance->reporter.Warning(kId, "releasing a shared payload: " + error);
    }
  }
}

// The name as the broker keys it, or an empty string after a warning that says what is wrong with it.
// `command` and `field` name where it came from (only put together for the warning: this runs on every
// open by name).
std::string CheckedName(const DeviceData& d, LPCWSTR name, const char* command, const char* field,
                        const char* noun = "memory object") {
  std::optional<std::string> utf8 = WideToUtf8(name);
  std::string why = utf8 ? CheckShareName(*utf8) : "it holds a value that is not a Unicode character";
  if (!why.empty()) {
    d.instance->reporter.Warning(
        kId, std::string(command) + ": " + field + " is not a valid name for a shared " + noun + ": " + why +
                 ". Names are \"Local\\\\\", \"Global\\\\\" or no prefix, then up to " +
                 std::to_string(protocol::kMaxNameChars) + " characters in all");
    return {};
  }
  return std::move(*utf8);
}

// How messages name what an open asked for.
std::string Describe(const protocol::OpenRequest& r) {
  return r.kmt != 0 ? "KMT value " + Hex(reinterpret_cast<HANDLE>(static_cast<uintptr_t>(r.kmt)))
                    : "\"" + r.name + "\"";
}

// Checks an opened payload against the import (where the exporter is known); `request()` says what was
// opened, for messages (put together only for one). Returns VK_SUCCESS or the
// error to return after a report.
template <typename Request>
VkResult CheckAgainstExporter(const DeviceData& d, const protocol::OpenReply& reply,
                              const VkMemoryAllocateInfo& info, const Request& request) {
  const DebugReporter& reporter = d.instance->reporter;
  const protocol::PayloadInfo& e = reply.info;
  if (e.allocation_size != info.allocationSize || e.memory_type_index != info.memoryTypeIndex) {
    const std::string what = Describe(request());
    ReportFatalViolation(reporter, "VUID-VkMemoryAllocateInfo-allocationSize-01743",
                         std::string(kAllocate) + ": pAllocateInfo->allocationSize is " +
                             std::to_string(info.allocationSize) + " and memoryTypeIndex is " +
                             std::to_string(info.memoryTypeIndex) + ", but the memory exported as " + what +
                             " was allocated with allocationSize " + std::to_string(e.allocation_size) +
                             " and memoryTypeIndex " + std::to_string(e.memory_type_index) +
                             "; they must match");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if (std::memcmp(e.device_uuid, d.gpu.device_uuid, VK_UUID_SIZE) != 0 ||
      std::memcmp(e.driver_uuid, d.gpu.driver_uuid, VK_UUID_SIZE) != 0) {
    const std::string what = Describe(request());
    ReportFatalViolation(reporter, "VUID-VkImportMemoryWin32HandleInfoKHR-handle-00659",
                         std::string(kAllocate) + ": the memory exported as " + what +
                             " was created on the physical device with deviceUUID " + Uuid(e.device_uuid) +
                             " and driverUUID " + Uuid(e.driver_uuid) + ", but this device has deviceUUID " +
                             Uuid(d.gpu.device_uuid) + " and driverUUID " + Uuid(d.gpu.driver_uuid) +
                             "; it must be the same underlying physical device");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  return VK_SUCCESS;
}

}  // namespace

VkResult PublishPayload(DeviceData& device, const ShareSubject& subject, const protocol::PayloadInfo& info,
                        LPCWSTR name, bool kmt, int fd, uint64_t* payload, uint32_t* kmt_value) {
  const DebugReporter& reporter = device.instance->reporter;
  const char* noun = Noun(subject.kind);
  protocol::PublishRequest request;
  if (name != nullptr) {
    request.name = CheckedName(device, name, subject.command, subject.name_field, noun);
    if (request.name.empty()) {
      close(fd);
      return VK_ERROR_INVALID_EXTERNAL_HANDLE;
    }
    request.flags |= protocol::kPublishName;
  }
  if (kmt) request.flags |= protocol::kPublishKmt;
  request.info = info;
  request.info.object_kind = subject.kind;
  protocol::PublishReply reply;
  std::string error;
  bool sent = Client().Publish(request, fd, &reply, &error);
  close(fd);  // the broker has its own copy
  const std::string what = name != nullptr ? "under the name \"" + request.name + "\"" : "with a KMT value";
  if (!sent) {
    reporter.Warning(kId, std::string(subject.command) + ": cannot share the " + noun + " " + what +
                              ": the ntbridged broker cannot be reached: " + error);
    return kmt && name == nullptr ? VK_ERROR_TOO_MANY_OBJECTS : VK_ERROR_INVALID_EXTERNAL_HANDLE;
  }
  switch (reply.status) {
    case Status::kOk:
      if (kmt && reply.kmt == 0) break;
      *payload = reply.payload;
      if (kmt_value != nullptr) *kmt_value = reply.kmt;
      Track(device, reply.payload);
      return VK_SUCCESS;
    case Status::kNameInUse:
      reporter.Warning(kId, std::string(subject.command) + ": " + subject.name_field + " \"" + request.name +
                                "\" is already in use by a live object of this user; free that object or "
                                "choose another name");
      return VK_ERROR_INVALID_EXTERNAL_HANDLE;
    case Status::kTooMany:
      reporter.Warning(kId, std::string(subject.command) +
                                ": the broker holds too many shared payloads to share the " + noun + " " +
                                what);
      return kmt && name == nullptr ? VK_ERROR_TOO_MANY_OBJECTS : VK_ERROR_OUT_OF_HOST_MEMORY;
    default:
      break;
  }
  reporter.Warning(kId, std::string(subject.command) + ": the broker refused to share the " + noun + " " +
                            what + ": " + protocol::StatusName(reply.status));
  return kmt && name == nullptr ? VK_ERROR_TOO_MANY_OBJECTS : VK_ERROR_INVALID_EXTERNAL_HANDLE;
}

VkResult ShareKmtOf(DeviceData& device, const ShareSubject& subject, uint64_t payload, uint32_t* kmt,
                    bool* lost) {
  *lost = false;
  protocol::ShareKmtReply reply;
  std::string error;
  if (!Client().ShareKmt(payload, &reply, &error)) {
    device.instance->reporter.Warning(
        kId,
        std::string(subject.command) + ": no KMT value: the ntbridged broker cannot be reached: " + error);
    return VK_ERROR_TOO_MANY_OBJECTS;
  }
  if (reply.status == Status::kOk) {
    *kmt = reply.kmt;
    return VK_SUCCESS;
  }
  if (reply.status == Status::kTooMany) {
    device.instance->reporter.Warning(
        kId, std::string(subject.command) + ": the broker has no KMT value left to issue");
    return VK_ERROR_TOO_MANY_OBJECTS;
  }
  // The broker that held the payload died: the caller publishes it anew.
  Untrack(device, payload);
  *lost = true;
  return VK_ERROR_INVALID_EXTERNAL_HANDLE;
}

VkResult OpenPayload(DeviceData& device, const ShareSubject& subject, HANDLE kmt_handle, LPCWSTR name,
                     protocol::OpenReply* reply, int* fd) {
  const DebugReporter& reporter = device.instance->reporter;
  const char* noun = Noun(subject.kind);
  *fd = -1;
  protocol::OpenRequest request;
  request.object_kind = subject.kind;
  if (name != nullptr) {
    request.name = CheckedName(device, name, subject.command, subject.name_field, noun);
    if (request.name.empty()) return VK_ERROR_INVALID_EXTERNAL_HANDLE;
  } else {
    auto value = reinterpret_cast<uintptr_t>(kmt_handle);
    if (value == 0 || value > UINT32_MAX) {
      reporter.Warning(kId, std::string(subject.command) + ": handle " + Hex(kmt_handle) +
                                " is not a global share (KMT) handle: those are nonzero 32-bit values");
      return VK_ERROR_INVALID_EXTERNAL_HANDLE;
    }
    request.kmt = static_cast<uint32_t>(value);
  }
  std::string error;
  int payload_fd = -1;
  if (!Client().Open(request, reply, &payload_fd, &error)) {
    reporter.Warning(kId, std::string(subject.command) + ": cannot import " + Describe(request) +
                              ": the ntbridged broker cannot be reached: " + error);
    return VK_ERROR_INVALID_EXTERNAL_HANDLE;
  }
  if (reply->status == Status::kWrongKind) {
    reporter.Warning(kId, std::string(subject.command) + ": cannot import " + Describe(request) + " as a " +
                              noun + ": it belongs to a " + Noun(reply->info.object_kind) +
                              " (names and KMT values name one kind of object, as on Windows)");
    if (payload_fd >= 0) close(payload_fd);
    return VK_ERROR_INVALID_EXTERNAL_HANDLE;
  }
  if (reply->status != Status::kOk) {
    reporter.Warning(kId, std::string(subject.command) + ": cannot import " + Describe(request) + ": " +
                              (name != nullptr ? std::string("no live ") + noun +
                                                     " of this user is exported under that name"
                                               : std::string("no live ") + noun +
                                                     " of this user has that global share handle (it was "
                                                     "never issued, or every object of its payload has "
                                                     "been freed)"));
    if (payload_fd >= 0) close(payload_fd);
    return VK_ERROR_INVALID_EXTERNAL_HANDLE;
  }
  Track(device, reply->payload);
  *fd = payload_fd;
  return VK_SUCCESS;
}

void ReleasePayload(DeviceData& device, uint64_t payload) {
  if (payload == 0) return;
  Untrack(device, payload);
  Release(device, payload);
}

VkResult PublishName(DeviceData& device, VkDeviceMemory, int fd, MemoryRecord& record) {
  const ShareSubject subject{protocol::ObjectKind::kMemory, kAllocate,
                             "VkExportMemoryWin32HandleInfoKHR::name"};
  return PublishPayload(device, subject, InfoOf(device, record), record.name.c_str(), false, fd,
                        &record.broker_payload, nullptr);
}

namespace {

// GetGlobalShare's work under g_kmt_mutex. Messages go to `warning` (reported once the lock is released, as
// an application's callback may call back into the layer).
VkResult AssignGlobalShare(DeviceData& device, VkDeviceMemory memory, MemoryRecord& record,
                           std::string* warning) {
  if (auto current = device.memories.Find(memory)) record = *current;
  if (record.kmt != 0) return VK_SUCCESS;
  std::string error;
  if (record.broker_payload != 0) {
    // Already shared by name or imported: the same payload gets its KMT value.
    protocol::ShareKmtReply reply;
    if (!Client().ShareKmt(record.broker_payload, &reply, &error)) {
      *warning = "no KMT value: the ntbridged broker cannot be reached: " + error;
      return VK_ERROR_TOO_MANY_OBJECTS;
    }
    if (reply.status == Status::kOk) {
      record.kmt = reply.kmt;
    } else if (reply.status == Status::kTooMany) {
      *warning = "the broker has no KMT value left to issue";
      return VK_ERROR_TOO_MANY_OBJECTS;
    } else {
      // The broker that held the payload died; register it anew below.
      Untrack(device, record.broker_payload);
      record.broker_payload = 0;
    }
  }
  if (record.kmt == 0) {
    VkMemoryGetFdInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR, nullptr, memory,
                             VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
    int fd = -1;
    VkResult r = device.next.GetMemoryFdKHR(device.device, &get, &fd);
    if (r != VK_SUCCESS) return r;
    if (fd < 0) {
      *warning = "the driver returned no descriptor for memory " + Hex(uint64_t(memory));
      return VK_ERROR_TOO_MANY_OBJECTS;
    }
    protocol::PublishRequest request;
    request.flags = protocol::kPublishKmt;
    request.info = InfoOf(device, record);
    protocol::PublishReply reply;
    bool sent = Client().Publish(request, fd, &reply, &error);
    close(fd);
    if (!sent) {
      *warning = "no KMT value: the ntbridged broker cannot be reached: " + error;
      return VK_ERROR_TOO_MANY_OBJECTS;
    }
    if (reply.status != Status::kOk || reply.kmt == 0) {
      *warning = std::string("the broker issued no KMT value: ") + protocol::StatusName(reply.status);
      return VK_ERROR_TOO_MANY_OBJECTS;
    }
    record.broker_payload = reply.payload;
    record.kmt = reply.kmt;
    Track(device, reply.payload);
  }
  device.memories.Update(memory, [&](MemoryRecord& m) {
    m.kmt = record.kmt;
    m.broker_payload = record.broker_payload;
  });
  return VK_SUCCESS;
}

}  // namespace

VkResult GetGlobalShare(DeviceData& device, VkDeviceMemory memory, MemoryRecord& record, uint32_t* kmt) {
  std::string warning;
  VkResult r;
  {
    std::lock_guard lock(g_kmt_mutex);
    r = AssignGlobalShare(device, memory, record, &warning);
  }
  if (!warning.empty()) device.instance->reporter.Warning(kId, std::string(kGetHandle) + ": " + warning);
  if (r == VK_SUCCESS) *kmt = record.kmt;
  return r;
}

VkResult OpenShare(DeviceData& device, VkExternalMemoryHandleTypeFlagBits type, HANDLE handle, LPCWSTR name,
                   const VkMemoryAllocateInfo& info, MemoryRecord& record, int* fd, struct stat* st) {
  const DebugReporter& reporter = device.instance->reporter;
  *fd = -1;
  if (type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT && name != nullptr) {
    ReportFatalViolation(reporter, "VUID-VkImportMemoryWin32HandleInfoKHR-handleType-01439",
                         std::string(kAllocate) +
                             ": VkImportMemoryWin32HandleInfoKHR::handleType is "
                             "VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT and name is not NULL; only "
                             "NT handle types can be imported by name");
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  const ShareSubject subject{protocol::ObjectKind::kMemory, kAllocate,
                             "VkImportMemoryWin32HandleInfoKHR::name"};
  protocol::OpenReply reply;
  int payload_fd = -1;
  VkResult r = OpenPayload(device, subject, handle, name, &reply, &payload_fd);
  if (r != VK_SUCCESS) return r;
  protocol::OpenRequest request;  // for messages only: put together when one is reported
  request.kmt = name == nullptr ? static_cast<uint32_t>(reinterpret_cast<uintptr_t>(handle)) : 0;
  const auto for_messages = [&]() -> const protocol::OpenRequest& {
    if (name != nullptr && request.name.empty()) request.name = WideToUtf8(name).value_or("");
    return request;
  };
  r = CheckAgainstExporter(device, reply, info, for_messages);
  std::string why;
  // What the broker's fstat said at publish (revision 5) spares one of ours on every open (protocol.hpp).
  const protocol::PayloadFile& file = reply.file;
  if (file.mode != 0) {
    *st = {};
    st->st_dev = static_cast<dev_t>(file.dev);
    st->st_ino = static_cast<ino_t>(file.ino);
    st->st_rdev = static_cast<dev_t>(file.rdev);
    st->st_mode = static_cast<mode_t>(file.mode);
    st->st_size = static_cast<off_t>(file.size);
  }
  const bool stat_ok = file.mode != 0 || fstat(payload_fd, st) == 0;
  if (r == VK_SUCCESS && !CheckPayloadFd(payload_fd, stat_ok ? st : nullptr, info.allocationSize, &why)) {
    reporter.Warning(kId, std::string(kAllocate) + ": the broker's payload for " + Describe(for_messages()) +
                              " is not usable memory: " + why);
    r = VK_ERROR_INVALID_EXTERNAL_HANDLE;
  }
  if (r != VK_SUCCESS) {
    close(payload_fd);
    ReleasePayload(device, reply.payload);
    return r;
  }
  record.broker_payload = reply.payload;
  record.kmt = reply.kmt;
  *fd = payload_fd;
  return VK_SUCCESS;
}

void ReleaseShare(DeviceData& device, const MemoryRecord& record) {
  ReleasePayload(device, record.broker_payload);
}

void ReleaseDeviceShares(DeviceData& device) {
  std::unordered_multiset<uint64_t> held;
  {
    std::lock_guard lock(g_held_mutex);
    if (auto it = g_held.find(&device); it != g_held.end()) {
      held = std::move(it->second);
      g_held.erase(it);
    }
  }
  for (uint64_t payload : held) Release(device, payload);
}

}  // namespace ntbridge
