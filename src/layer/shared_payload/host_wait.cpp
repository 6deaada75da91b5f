#include "shared_payload/host_wait.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "dispatch.hpp"

namespace ntbridge {
namespace {

using shared_payload::Clock;
using shared_payload::Status;

constexpr const char* kId = "ntbridge-shared-payload";

Clock::time_point DeadlineAfter(uint64_t timeout_ns) {
  const auto now = Clock::now();
  if (timeout_ns >= static_cast<uint64_t>((Clock::time_point::max() - now).count())) {
    return Clock::time_point::max();
  }
  return now + std::chrono::nanoseconds(timeout_ns);
}

}  // namespace

std::string DescribePayload(const shared_payload::SyncState& state) {
  char id[32];
  std::snprintf(id, sizeof id, "%016" PRIx64, state.id());
  return std::string("shared payload ") + id + " (" + shared_payload::KindName(state.kind()) + ")";
}

void ReportSharedPayloadFault(const DeviceData& device, const char* command,
                              const shared_payload::SyncState& state, const std::string& error) {
  device.instance->reporter.Warning(kId, std::string(command) + ": " + DescribePayload(state) + ": " + error);
}

VkResult RunHostWait(DeviceData& device, const HostWait& wait, uint64_t timeout_ns) {
  const Clock::time_point deadline = DeadlineAfter(timeout_ns);
  std::vector<shared_payload::WaitItem> items;
  items.reserve(wait.shared.size());
  for (const HostWait::Item& item : wait.shared)
    items.push_back({item.state.get(), item.value, false, false});

  auto fault = [&](Status s, size_t first, const std::string& error) {
    const shared_payload::SyncState& state = *wait.shared[std::min(first, wait.shared.size() - 1)].state;
    if (s == Status::kAbandoned) {
      device.instance->reporter.Warning(
          kId, std::string(wait.command) + ": the wait on " + DescribePayload(state) +
                   " can never complete: every other process that could signal it has died (" + error +
                   "); returning VK_ERROR_DEVICE_LOST instead of waiting forever");
    } else {
      ReportSharedPayloadFault(device, wait.command, state, error);
    }
    return VK_ERROR_DEVICE_LOST;
  };

  size_t first = 0;
  std::string error;
  if (!wait.driver_poll) {
    Status s = shared_payload::WaitMany(items, wait.any, deadline, nullptr, 0, &first, &error);
    if (s == Status::kOk) return VK_SUCCESS;
    if (s == Status::kTimeout) return VK_TIMEOUT;
    return fault(s, first, error);
  }
  // A mix of shared payloads and the driver's objects: neither side can wait for the other, so both are
  // polled, and the time between is slept on the shared payloads' futexes in short slices.
  constexpr auto kSlice = std::chrono::milliseconds(1);
  for (;;) {
    VkResult dr = wait.driver_poll(0);
    if (dr < 0) return dr;
    const bool driver_done = dr == VK_SUCCESS;
    Status s =
        shared_payload::WaitMany(items, wait.any, Clock::time_point::min(), nullptr, 0, &first, &error);
    if (s != Status::kOk && s != Status::kTimeout) return fault(s, first, error);
    const bool shared_done = s == Status::kOk;
    if (wait.any ? (driver_done || shared_done) : (driver_done && shared_done)) return VK_SUCCESS;
    const auto now = Clock::now();
    if (now >= deadline) return VK_TIMEOUT;
    const auto slice_end = std::min(deadline, now + kSlice);
    if (!shared_done) {
      s = shared_payload::WaitMany(items, wait.any, slice_end, nullptr, 0, &first, &error);
      if (s != Status::kOk && s != Status::kTimeout) return fault(s, first, error);
    } else {
      dr = wait.driver_poll(static_cast<uint64_t>(std::chrono::nanoseconds(slice_end - now).count()));
      if (dr < 0) return dr;
    }
  }
}

}  // namespace ntbridge
