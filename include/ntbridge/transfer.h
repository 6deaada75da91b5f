/* ntbridge: giving shared Vulkan memory to another process over a connected Unix socket.
 * One message carries what an importer needs (size, memory type, handle type, device and driver UUIDs) and,
 * for an NT handle, the descriptor itself (SCM_RIGHTS). KMT values and names travel as values: the receiver
 * opens them through the layer. Messages are versioned and length-checked on receipt. */
#ifndef NTBRIDGE_TRANSFER_H_
#define NTBRIDGE_TRANSFER_H_

#include <ntbridge/handle.h>
#include <stdint.h>
#include <wchar.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NTBRIDGE_UUID_SIZE 16
#define NTBRIDGE_MAX_NAME 260 /* characters, as DESIGN.md §2 allows for names */

typedef struct ntbridge_memory_info {
  uint64_t allocation_size;   /* VkMemoryAllocateInfo::allocationSize of the exporter */
  uint32_t memory_type_index; /* VkMemoryAllocateInfo::memoryTypeIndex of the exporter */
  uint32_t handle_type;       /* one VkExternalMemoryHandleTypeFlagBits: OPAQUE_WIN32 or OPAQUE_WIN32_KMT */
  uint32_t dedicated;         /* nonzero: the allocation was dedicated (VkMemoryDedicatedAllocateInfo) */
  uint32_t global_share;      /* OPAQUE_WIN32_KMT: the KMT value; otherwise 0 */
  uint8_t device_uuid[NTBRIDGE_UUID_SIZE]; /* VkPhysicalDeviceIDProperties::deviceUUID */
  uint8_t driver_uuid[NTBRIDGE_UUID_SIZE]; /* VkPhysicalDeviceIDProperties::driverUUID */
  wchar_t name[NTBRIDGE_MAX_NAME + 1];     /* OPAQUE_WIN32 by name: the name, else empty; NUL-terminated */
} ntbridge_memory_info;

/* Sends `info` and, when `handle` is not NULL, a duplicate of it (the caller keeps its handle). An
 * OPAQUE_WIN32 message carries either a handle or a name; a KMT message carries neither. Returns 0, or an
 * errno value (EINVAL for an inconsistent message). */
NTBRIDGE_API int ntbridge_send_memory(int socket, const ntbridge_memory_info* info, HANDLE handle);

/* Receives one message. *handle gets a new NT handle the caller owns (close-on-exec), or NULL when the
 * message carried none. Returns 0, ENODATA when the peer closed the connection, EBADMSG for a malformed
 * message (wrong length, version, handle type or descriptor count), or another errno value. */
NTBRIDGE_API int ntbridge_receive_memory(int socket, ntbridge_memory_info* info, HANDLE* handle);

#ifdef __cplusplus
}
#endif

#endif /* NTBRIDGE_TRANSFER_H_ */
