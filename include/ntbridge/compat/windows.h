/* ntbridge: the Win32 types that <vulkan/vulkan_win32.h> needs, with the Linux ABI of DESIGN.md §1.
 * Applications define VK_USE_PLATFORM_WIN32_KHR and put this folder on the include path; the layer and
 * every program then agree on the layout of the Win32 structures of VK_KHR_external_memory_win32. */
#ifndef NTBRIDGE_COMPAT_WINDOWS_H_
#define NTBRIDGE_COMPAT_WINDOWS_H_

#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

typedef void* HANDLE;
typedef uint32_t DWORD;
typedef int32_t BOOL;
typedef wchar_t WCHAR;
typedef const wchar_t* LPCWSTR;
typedef void* HINSTANCE;
typedef void* HWND;
typedef void* HMONITOR;

typedef struct _SECURITY_ATTRIBUTES {
  DWORD nLength;
  void* lpSecurityDescriptor;
  BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

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

#endif /* NTBRIDGE_COMPAT_WINDOWS_H_ */
