// Vulkan-side helpers (include/ntbridge/vulkan.hpp).
#include <algorithm>
#include <cstdlib>
#include <ntbridge/vulkan.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "broker_client.hpp"
#include "protocol.hpp"
#include "share_name.hpp"

namespace ntbridge {

namespace {

std::string Describe(protocol::ObjectKind kind) {
  const std::string name = protocol::ObjectKindName(kind);
  return kind == protocol::ObjectKind::kMemory ? name : "a " + name;
}

void FillIds(PFN_vkGetInstanceProcAddr get_instance_proc, VkInstance instance, VkPhysicalDevice gpu,
             uint8_t* device_uuid, uint8_t* driver_uuid) {
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
  std::copy(std::begin(ids.deviceUUID), std::end(ids.deviceUUID), device_uuid);
  std::copy(std::begin(ids.driverUUID), std::end(ids.driverUUID), driver_uuid);
}

// An open share: a descriptor of its payload, and what the exporter said about it.
struct OpenedShare {
  NtHandle handle;
  protocol::PayloadInfo info;
  std::string what;  // "KMT value N" / "name \"...\"", for messages
};

// Asks the user's broker, which keeps a descriptor of every shared payload, for a duplicate: an NT handle of
// the payload of KMT value `kmt` (nonzero) or `name`, of `kind`. Throws std::runtime_error saying what
// failed.
OpenedShare OpenThroughBroker(const char* caller, uint32_t kmt, const wchar_t* name,
                              protocol::ObjectKind kind) {
  protocol::OpenRequest request;
  request.object_kind = kind;
  if (kmt != 0) {
    request.kmt = kmt;
  } else {
    std::optional<std::string> utf8 = WideToUtf8(name);
    if (!utf8) throw std::invalid_argument(std::string(caller) + ": the name is not valid UTF-32");
    request.name = *utf8;
  }
  OpenedShare out;
  out.what = kmt != 0 ? "KMT value " + std::to_string(kmt) : "name \"" + request.name + "\"";
  static BrokerClient* client = new BrokerClient();
  const char* socket = std::getenv("VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET");
  // A share exists only while a broker holds it: never start one here.
  client->SetOptions({socket != nullptr ? socket : "", "", false});
  protocol::OpenReply reply;
  int fd = -1;
  std::string error;
  if (!client->Open(request, &reply, &fd, &error)) {
    throw std::runtime_error(std::string(caller) + ": cannot open " + out.what + ": " + error);
  }
  if (reply.status == protocol::Status::kWrongKind) {
    throw std::runtime_error(std::string(caller) + ": " + out.what + " is " +
                             Describe(reply.info.object_kind) + ", not " + Describe(kind));
  }
  if (reply.status != protocol::Status::kOk || fd < 0) {
    throw std::runtime_error(std::string(caller) + ": no live share has " + out.what +
                             " (was the exporting " +
                             (kind == protocol::ObjectKind::kMemory ? "memory freed" : "object destroyed") +
                             ", or does it belong to another user?)");
  }
  out.handle = NtHandle::FromFd(fd);
  out.info = reply.info;
  // The descriptor owns its reference to the payload; the broker's hold for this process is not needed.
  protocol::StatusCodeReply released;
  client->Release(reply.payload, &released, &error);
  return out;
}

}  // namespace

void FillDeviceIds(PFN_vkGetInstanceProcAddr get_instance_proc, VkInstance instance, VkPhysicalDevice gpu,
                   MemoryInfo& info) {
  static_assert(sizeof info.device_uuid == VK_UUID_SIZE && sizeof info.driver_uuid == VK_UUID_SIZE);
  FillIds(get_instance_proc, instance, gpu, info.device_uuid, info.driver_uuid);
}

void FillDeviceIds(PFN_vkGetInstanceProcAddr get_instance_proc, VkInstance instance, VkPhysicalDevice gpu,
                   SyncInfo& info) {
  static_assert(sizeof info.device_uuid == VK_UUID_SIZE && sizeof info.driver_uuid == VK_UUID_SIZE);
  FillIds(get_instance_proc, instance, gpu, info.device_uuid, info.driver_uuid);
}

NtHandle OpenShareAsNtHandle(VkDevice, PFN_vkGetDeviceProcAddr, const MemoryInfo& info) {
  const bool kmt = info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  const bool named =
      info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT && info.name[0] != L'\0';
  if (!kmt && !named) {
    throw std::invalid_argument(
        "ntbridge::OpenShareAsNtHandle: `info` describes neither a KMT value nor a name");
  }
  // (Importing the share into Vulkan and exporting from the imported memory would also give an NT handle,
  // but NVIDIA's driver 580 hands out, from imported memory, descriptors that do not lead back to the
  // payload.)
  OpenedShare share = OpenThroughBroker("ntbridge::OpenShareAsNtHandle", kmt ? info.global_share : 0,
                                        info.name, protocol::ObjectKind::kMemory);
  if (share.info.allocation_size != info.allocation_size) {
    throw std::runtime_error("ntbridge::OpenShareAsNtHandle: " + share.what + " has " +
                             std::to_string(share.info.allocation_size) + " bytes, but `info` says " +
                             std::to_string(info.allocation_size));
  }
  return std::move(share.handle);
}

NtHandle OpenShareAsNtHandle(const SyncInfo& info) {
  const char* caller = "ntbridge::OpenShareAsNtHandle";
  const bool kmt = info.handle_type == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  const bool named =
      info.handle_type == VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT && info.name[0] != L'\0';
  if (!kmt && !named) {
    throw std::invalid_argument(std::string(caller) + ": `info` describes neither a KMT value nor a name");
  }
  protocol::ObjectKind kind;
  switch (info.kind) {
    case NTBRIDGE_SYNC_BINARY_SEMAPHORE:
    case NTBRIDGE_SYNC_TIMELINE_SEMAPHORE:
      kind = protocol::ObjectKind::kSemaphore;
      break;
    case NTBRIDGE_SYNC_FENCE:
      kind = protocol::ObjectKind::kFence;
      break;
    default:
      throw std::invalid_argument(std::string(caller) + ": `info.kind` " + std::to_string(info.kind) +
                                  " is no NTBRIDGE_SYNC_* kind");
  }
  OpenedShare share = OpenThroughBroker(caller, kmt ? info.global_share : 0, info.name, kind);
  if (kind == protocol::ObjectKind::kSemaphore) {
    // The broker tells semaphores from fences; the semaphore type is in the layer's flags. A consumer that
    // went on with the wrong type would break VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262 or
    // import into CUDA as the wrong type: say so here.
    const bool timeline = (share.info.object_flags & protocol::kSyncFlagTimeline) != 0;
    if (timeline != (info.kind == NTBRIDGE_SYNC_TIMELINE_SEMAPHORE)) {
      throw std::runtime_error(std::string(caller) + ": " + share.what + " is a " +
                               (timeline ? "timeline" : "binary") + " semaphore, but `info.kind` says " +
                               (timeline ? "binary" : "timeline"));
    }
  }
  return std::move(share.handle);
}

}  // namespace ntbridge
