/* ntbridge: the Win32 types that <vulkan/vulkan_win32.h> needs, with the Linux ABI of DESIGN.md §1.
 * Applications define VK_USE_PLATFORM_WIN32_KHR and put this folder on the include path; the layer and
 * every program then agree on the layout of the Win32 structures of VK_KHR_external_memory_win32.
 *
 * volk (volk.h) declares these types itself when it includes vulkan_win32.h without <windows.h>, with
 * DWORD as unsigned long. Both include orders work (docs/app-guide.md, "With volk"):
 *  - this header first: it points volk at <vulkan/vulkan.h> (VOLK_VULKAN_H_PATH), which includes this header,
 *    so volk declares nothing of its own and every type is the one below;
 *  - volk.h first: this header adds only what volk left out (the members of SECURITY_ATTRIBUTES, BOOL,
 *    WCHAR, the constants). DWORD stays volk's unsigned long in that file, which gives every Vulkan structure
 *    the same layout as uint32_t does (checked below), so the layer reads what the program wrote. */
#ifndef NTBRIDGE_COMPAT_WINDOWS_H_
#define NTBRIDGE_COMPAT_WINDOWS_H_

#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#if defined(VOLK_H_) && defined(VULKAN_WIN32_H_)
/* volk.h came first and declared HANDLE, DWORD, LPCWSTR, HINSTANCE, HWND, HMONITOR and SECURITY_ATTRIBUTES
 * (incomplete) before it included vulkan_win32.h; declaring them again differently would not compile. */
#define NTBRIDGE_COMPAT_TYPES_FROM_VOLK 1
#else
typedef void* HANDLE;
typedef uint32_t DWORD;
typedef const wchar_t* LPCWSTR;
typedef void* HINSTANCE;
typedef void* HWND;
typedef void* HMONITOR;
/* volk.h, when included after this header, takes the Vulkan headers (and so these types) from here. */
#ifndef VOLK_VULKAN_H_PATH
#define VOLK_VULKAN_H_PATH <vulkan/vulkan.h>
#endif
#endif

typedef int32_t BOOL;
typedef wchar_t WCHAR;

/* nLength is 32 bits whoever declared DWORD: this is the layout the layer reads. */
struct _SECURITY_ATTRIBUTES {
  uint32_t nLength;
  void* lpSecurityDescriptor;
  BOOL bInheritHandle;
};
#ifndef NTBRIDGE_COMPAT_TYPES_FROM_VOLK
typedef struct _SECURITY_ATTRIBUTES SECURITY_ATTRIBUTES;
#endif
typedef struct _SECURITY_ATTRIBUTES *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

#define INVALID_HANDLE_VALUE ((HANDLE)(intptr_t)-1)
#define GENERIC_ALL ((DWORD)0x10000000)
#define DXGI_SHARED_RESOURCE_READ ((DWORD)0x80000000)
#define DXGI_SHARED_RESOURCE_WRITE ((DWORD)0x1)

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#ifdef NTBRIDGE_COMPAT_TYPES_FROM_VOLK
/* Every DWORD in vulkan_win32.h is a dwAccess followed by a pointer or ending its structure, so an 8-byte
 * unsigned long fills exactly the padding a uint32_t leaves, and on a little-endian machine its low 32 bits,
 * which the layer reads, hold the value. */
#ifdef __cplusplus
#define NTBRIDGE_COMPAT_STATIC_ASSERT static_assert
#else
#define NTBRIDGE_COMPAT_STATIC_ASSERT _Static_assert
#endif
NTBRIDGE_COMPAT_STATIC_ASSERT(
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "volk's DWORD (unsigned long) matches ntbridge's only on little-endian machines");
NTBRIDGE_COMPAT_STATIC_ASSERT(sizeof(void*) == 8 && sizeof(DWORD) <= 8,
                              "volk's DWORD matches ntbridge's layout on 64-bit Linux only");
NTBRIDGE_COMPAT_STATIC_ASSERT(offsetof(VkExportMemoryWin32HandleInfoKHR, dwAccess) == 24 &&
                                  offsetof(VkExportMemoryWin32HandleInfoKHR, name) == 32 &&
                                  sizeof(VkExportMemoryWin32HandleInfoKHR) == 40,
                              "VkExportMemoryWin32HandleInfoKHR differs from ntbridge's layout");
NTBRIDGE_COMPAT_STATIC_ASSERT(offsetof(VkExportSemaphoreWin32HandleInfoKHR, name) == 32 &&
                                  sizeof(VkExportSemaphoreWin32HandleInfoKHR) == 40,
                              "VkExportSemaphoreWin32HandleInfoKHR differs from ntbridge's layout");
NTBRIDGE_COMPAT_STATIC_ASSERT(offsetof(VkExportFenceWin32HandleInfoKHR, name) == 32 &&
                                  sizeof(VkExportFenceWin32HandleInfoKHR) == 40,
                              "VkExportFenceWin32HandleInfoKHR differs from ntbridge's layout");
NTBRIDGE_COMPAT_STATIC_ASSERT(sizeof(VkExportMemoryWin32HandleInfoNV) == 32,
                              "VkExportMemoryWin32HandleInfoNV differs from ntbridge's layout");
#undef NTBRIDGE_COMPAT_STATIC_ASSERT
#endif

#endif /* NTBRIDGE_COMPAT_WINDOWS_H_ */
