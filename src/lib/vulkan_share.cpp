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

NtHandle OpenShareAsNtHandle(VkDevice, PFN_vkGetDeviceProcAddr, const MemoryInfo& info) {
  const bool kmt = info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  const bool named =
      info.handle_type == VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT && info.name[0] != L'\0';
  if (!kmt && !named) {
    throw std::invalid_argument(
        "ntbridge::OpenShareAsNtHandle: `info` describes neither a KMT value nor a name");
  }
  // The broker keeps a descriptor of every shared payload: a duplicate of it is an NT handle of the payload.
  // (Importing the share into Vulkan and exporting from the imported memory would also give one, but NVIDIA's
  // driver 580 hands out, from imported memory, descriptors that do not lead back to the payload.)
  protocol::OpenRequest request;
  if (kmt) {
    request.kmt = info.global_share;
  } else {
    std::optional<std::string> utf8 = WideToUtf8(info.name);
    if (!utf8) throw std::invalid_argument("ntbridge::OpenShareAsNtHandle: the name is not valid UTF-32");
    request.name = *utf8;
  }
  const std::string what =
      kmt ? "KMT value " + std::to_string(info.global_share) : "name \"" + request.name + "\"";
  static BrokerClient* client = new BrokerClient();
  const char* socket = std::getenv("VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET");
  // A share exists only while a broker holds it: never start one here.
  client->SetOptions({socket != nullptr ? socket : "", "", false});
  protocol::OpenReply reply;
  int fd = -1;
  std::string error;
  if (!client->Open(request, &reply, &fd, &error)) {
    throw std::runtime_error("ntbridge::OpenShareAsNtHandle: cannot open " + what + ": " + error);
  }
  if (reply.status != protocol::Status::kOk || fd < 0) {
    throw std::runtime_error("ntbridge::OpenShareAsNtHandle: no live share has " + what +
                             " (was the exporting memory freed, or does it belong to another user?)");
  }
  NtHandle handle(reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd)));
  // The descriptor owns its reference to the payload; the broker's hold for this process is not needed.
  protocol::StatusCodeReply released;
  client->Release(reply.payload, &released, &error);
  if (reply.info.allocation_size != info.allocation_size) {
    throw std::runtime_error("ntbridge::OpenShareAsNtHandle: " + what + " has " +
                             std::to_string(reply.info.allocation_size) + " bytes, but `info` says " +
                             std::to_string(info.allocation_size));
  }
  return handle;
}

}  // namespace ntbridge
