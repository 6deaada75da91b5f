/* ntbridge: giving shared Vulkan memory, semaphores and fences to another process over a connected Unix
 * socket (stream or seqpacket). One message carries what an importer needs (for memory: size, memory type,
 * handle type, device and driver UUIDs; for a semaphore or fence: its kind, handle type and UUIDs) and, for
 * an NT handle, the descriptor itself (SCM_RIGHTS). KMT values and names travel as values: the receiver opens
 * them through the layer. Messages are versioned and length-checked on receipt, and say what they carry: a
 * receiver of one kind refuses a message of another. */
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
 * message (wrong length, version, handle type or descriptor count), ENOMSG for a well-formed message of a
 * semaphore or fence (consumed, its descriptor closed), or another errno value. */
NTBRIDGE_API int ntbridge_receive_memory(int socket, ntbridge_memory_info* info, HANDLE* handle);

/* Semaphores and fences (VK_KHR_external_semaphore_win32, VK_KHR_external_fence_win32): what the object is.
 * A timeline semaphore needs nothing more; its value travels in the payload itself. */
#define NTBRIDGE_SYNC_BINARY_SEMAPHORE 1u   /* VK_SEMAPHORE_TYPE_BINARY */
#define NTBRIDGE_SYNC_TIMELINE_SEMAPHORE 2u /* VK_SEMAPHORE_TYPE_TIMELINE */
#define NTBRIDGE_SYNC_FENCE 3u

typedef struct ntbridge_sync_info {
  /* NTBRIDGE_SYNC_BINARY_SEMAPHORE, NTBRIDGE_SYNC_TIMELINE_SEMAPHORE or NTBRIDGE_SYNC_FENCE */
  uint32_t kind;
  /* OPAQUE_WIN32 (0x2) or OPAQUE_WIN32_KMT (0x4): the same bits in VkExternalSemaphoreHandleTypeFlagBits and
   * VkExternalFenceHandleTypeFlagBits */
  uint32_t handle_type;
  uint32_t global_share;                   /* OPAQUE_WIN32_KMT: the KMT value; otherwise 0 */
  uint8_t device_uuid[NTBRIDGE_UUID_SIZE]; /* VkPhysicalDeviceIDProperties::deviceUUID of the exporter */
  uint8_t driver_uuid[NTBRIDGE_UUID_SIZE]; /* VkPhysicalDeviceIDProperties::driverUUID of the exporter */
  wchar_t name[NTBRIDGE_MAX_NAME + 1];     /* OPAQUE_WIN32 by name: the name, else empty; NUL-terminated */
} ntbridge_sync_info;

/* As ntbridge_send_memory, for a semaphore (`info->kind` binary or timeline) or a fence (`info->kind`
 * NTBRIDGE_SYNC_FENCE): the same rules of a handle, a name or a KMT value. EINVAL when `info` is not of the
 * function's kind or is inconsistent. */
NTBRIDGE_API int ntbridge_send_semaphore(int socket, const ntbridge_sync_info* info, HANDLE handle);
NTBRIDGE_API int ntbridge_send_fence(int socket, const ntbridge_sync_info* info, HANDLE handle);

/* As ntbridge_receive_memory: 0, ENODATA, EBADMSG, or ENOMSG for a well-formed message of another kind (a
 * fence where a semaphore was expected, memory, ...), which is consumed and its descriptor closed. */
NTBRIDGE_API int ntbridge_receive_semaphore(int socket, ntbridge_sync_info* info, HANDLE* handle);
NTBRIDGE_API int ntbridge_receive_fence(int socket, ntbridge_sync_info* info, HANDLE* handle);

#ifdef __cplusplus
}
#endif

#endif /* NTBRIDGE_TRANSFER_H_ */
