// The payloads this process exported as NT handles, so that an import of one of them can be checked against
// its exporter (VUID-VkMemoryAllocateInfo-allocationSize-01743,
// VUID-VkImportMemoryWin32HandleInfoKHR-handle-00659 and -01518, and
// VUID-vkGetMemoryWin32HandlePropertiesKHR-handle-00665), and the semaphores and fences whose payload is the
// driver's (below). KMT values and names are the broker's to check (shares.cpp).
//
// A payload is known by its identity (device and inode) where each payload has its own (memfd, dma-buf), and
// by its open file description where every payload is one device node (NVIDIA's /dev/nvidiactl): the
// exported descriptor's description is the same in a duplicate of it and in a descriptor that went to another
// process and came back.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "validation/sync_rules.hpp"
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
void ForgetExportedPayload(uint64_t id);

// Records the payload of the exported descriptor `fd` by its open file description, in the bucket `node`
// (st_rdev of the descriptor: the device node every payload of the driver is). Keeps a duplicate of `fd`
// until ForgetExportedDescription, and returns it; -1 when nothing was recorded: kcmp is not permitted in
// this process (a seccomp filter), descriptors ran short, or a quarter of the process's descriptor limit is
// kept already (the bound on what this costs in descriptors). The duplicate holds a reference to the payload,
// so it must be forgotten with the exporting memory object (vkFreeMemory, vkDestroyDevice): never later.
int RecordExportedDescription(int fd, uint64_t node, const ExportedPayload& payload);
void ForgetExportedDescription(int kept);
// Whether open file descriptions can be compared in this process (kcmp); false once a record found they
// cannot.
bool ExportedDescriptionsComparable();

// The exporter of the payload of `fd` (`st` is fstat's answer for it), if this process exported it: by
// identity, then by open file description.
std::optional<ExportedPayload> FindExportedPayload(int fd, const struct stat& st);

// Semaphores and fences whose payload is the driver's (DESIGN.md §7): their opaque fds do not identify the
// payload on any driver (NVIDIA's are /dev/nvidiactl, Mesa's DRM sync objects are anonymous inodes), so each
// NT handle exported of one is recorded by its open file description, as memory's are above.
//
// Owns the duplicate kept for one exported NT handle; forgets it when the last reference goes (the payload
// reference of the sync object it was exported from: SyncPayloadRef::exported).
class ExportedSyncDescription {
 public:
  explicit ExportedSyncDescription(int kept) : kept_(kept) {}
  ExportedSyncDescription(const ExportedSyncDescription&) = delete;
  ExportedSyncDescription& operator=(const ExportedSyncDescription&) = delete;
  ~ExportedSyncDescription();

 private:
  int kept_;
};
// Records the exported NT handle `fd` of a driver payload and what its exporter was; nullptr when nothing was
// recorded (as for RecordExportedDescription).
std::shared_ptr<const ExportedSyncDescription> RecordExportedSyncPayload(int fd,
                                                                         const SyncExporter& exporter);
// The exporter of the sync payload of `fd`, if this process exported it as an NT handle.
std::optional<SyncExporter> FindExportedSyncPayload(int fd);

}  // namespace ntbridge
