/* ntbridge: Win32-style helpers for NT handles on Linux (DESIGN.md §2).
 * An NT handle is a file descriptor: HANDLE = (HANDLE)(intptr_t)fd. These functions behave like their Win32
 * namesakes: they return TRUE on success, FALSE on failure with errno set (there is no GetLastError). */
#ifndef NTBRIDGE_HANDLE_H_
#define NTBRIDGE_HANDLE_H_

#include <windows.h> /* ntbridge's compat header: HANDLE, DWORD, BOOL */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NTBRIDGE_API __attribute__((visibility("default")))
#else
#define NTBRIDGE_API
#endif

/* The flag of GetHandleInformation/SetHandleInformation: a child started with exec inherits the handle. */
#ifndef HANDLE_FLAG_INHERIT
#define HANDLE_FLAG_INHERIT ((DWORD)0x1)
#endif

/* The descriptor a handle stands for, or -1 when the value cannot be one (NULL, INVALID_HANDLE_VALUE, out of
 * range). */
NTBRIDGE_API int ntbridge_HandleToFd(HANDLE handle);
NTBRIDGE_API HANDLE ntbridge_FdToHandle(int fd);

/* CloseHandle: releases this process's reference. */
NTBRIDGE_API BOOL ntbridge_CloseHandle(HANDLE handle);

/* DuplicateHandle within this process: *target gets a new handle to the same object, inheritable or not. To
 * give a handle to another process, send it over a Unix socket (ntbridge/transfer.h). */
NTBRIDGE_API BOOL ntbridge_DuplicateHandle(HANDLE source, HANDLE* target, BOOL inherit);

/* GetHandleInformation / SetHandleInformation with HANDLE_FLAG_INHERIT (the only flag Linux can carry). */
#ifndef NTBRIDGE_COMPAT_TYPES_FROM_VOLK
NTBRIDGE_API BOOL ntbridge_GetHandleInformation(HANDLE handle, DWORD* flags);
#else
/* volk.h came before <windows.h>, so DWORD is volk's 64-bit unsigned long in this file while the library
 * writes 32 bits: the call goes through a 32-bit value and the whole DWORD is assigned. */
NTBRIDGE_API BOOL ntbridge_GetHandleInformation(HANDLE handle, uint32_t* flags);
static inline BOOL ntbridge_GetHandleInformation_volk_dword_(HANDLE handle, DWORD* flags) {
  uint32_t value = 0;
  const BOOL ok = ntbridge_GetHandleInformation(handle, &value);
  if (ok) *flags = value;
  return ok;
}
#define ntbridge_GetHandleInformation ntbridge_GetHandleInformation_volk_dword_
#endif
NTBRIDGE_API BOOL ntbridge_SetHandleInformation(HANDLE handle, DWORD mask, DWORD flags);

/* CompareObjectHandles: TRUE when both handles refer to the same kernel object (same device and inode), even
 * when they were exported separately. FALSE otherwise or when either is not a handle. */
NTBRIDGE_API BOOL ntbridge_CompareObjectHandles(HANDLE first, HANDLE second);

#ifdef __cplusplus
}
#endif

#endif /* NTBRIDGE_HANDLE_H_ */
