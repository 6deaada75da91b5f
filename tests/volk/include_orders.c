/* The same two headers from C: volk.h and ntbridge's <windows.h> compile together in either order
 * (NTBRIDGE_TEST_WINDOWS_H_FIRST), with the same SECURITY_ATTRIBUTES as C++ and the layer. */
/* The order of these two is what the test is about. */
/* clang-format off */
#if NTBRIDGE_TEST_WINDOWS_H_FIRST
#include <windows.h>
#include <volk.h>
#else
#include <volk.h>
#include <windows.h>
#endif
/* clang-format on */
#include <ntbridge/handle.h>

size_t ntbridge_test_volk_c_security_attributes_size(void);

size_t ntbridge_test_volk_c_security_attributes_size(void) {
  SECURITY_ATTRIBUTES attributes = {sizeof(SECURITY_ATTRIBUTES), NULL, TRUE};
  VkExportMemoryWin32HandleInfoKHR info = {VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, NULL,
                                           &attributes, GENERIC_ALL, L"Local\\c"};
  return info.pAttributes->nLength;
}
