// The payloads this process exported as NT handles, so that an import of one of them can be checked against
// its exporter (VUID-VkMemoryAllocateInfo-allocationSize-01743,
// VUID-VkImportMemoryWin32HandleInfoKHR-handle-00659 and -01518). KMT values and names are the broker's to
// check (shares.cpp).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>

#include "vk_win32.hpp"

namespace ntbridge {

struct ExportedPayload {
  VkDeviceSize allocation_size = 0;
  uint32_t memory_type_index = 0;
  uint8_t device_uuid[VK_UUID_SIZE] = {};
  uint8_t driver_uuid[VK_UUID_SIZE] = {};
};

// The identity of the payload `fd` refers to, when it is unique to that payload, else 0. A character device
// (NVIDIA's /dev/nvidiactl, a DRM node) is shared by every payload of its driver, so it identifies nothing.
uint64_t UniquePayloadId(int fd);
// Same, from fstat's answer.
uint64_t UniquePayloadId(const struct stat& st);

// Thread-safe, process-wide. An entry lives while its exporting VkDeviceMemory does: while it lives the
// payload cannot be destroyed, so its identity cannot be reused by another payload.
void RecordExportedPayload(uint64_t id, const ExportedPayload& payload);
std::optional<ExportedPayload> FindExportedPayload(uint64_t id);
void ForgetExportedPayload(uint64_t id);

}  // namespace ntbridge
