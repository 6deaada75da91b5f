// Host waits that involve shared payloads: vkWaitSemaphores and vkWaitForFences over any mix of shared
// payloads and the driver's own objects, with the application's timeout.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shared_payload/sync_state.hpp"
#include "vk_win32.hpp"

namespace ntbridge {

struct DeviceData;

struct HostWait {
  const char* command = "";
  bool any = false;  // VK_SEMAPHORE_WAIT_ANY_BIT, or vkWaitForFences with waitAll false
  struct Item {
    std::shared_ptr<shared_payload::SyncState> state;
    uint64_t value = 0;  // timeline semaphores; ignored for fences
  };
  std::vector<Item> shared;
  // The same call's objects that the driver holds, waited for with a timeout in nanoseconds; empty when none.
  std::function<VkResult(uint64_t)> driver_poll;
};

// VK_SUCCESS, VK_TIMEOUT, or VK_ERROR_DEVICE_LOST after a report when a payload is corrupt or can never be
// signalled again (every other process that held it died).
VkResult RunHostWait(DeviceData& device, const HostWait& wait, uint64_t timeout_ns);

// Reports a fault of a shared payload (a corrupt page, a failed system call) met by `command`.
void ReportSharedPayloadFault(const DeviceData& device, const char* command,
                              const shared_payload::SyncState& state, const std::string& error);

// "shared payload 00000012345678ab (timeline semaphore)", for messages.
std::string DescribePayload(const shared_payload::SyncState& state);

}  // namespace ntbridge
