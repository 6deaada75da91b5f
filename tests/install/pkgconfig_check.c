/* Compiled as C with only `pkg-config --cflags --libs ntbridge`: the C headers and the library. */
#include <ntbridge/handle.h>
#include <ntbridge/transfer.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
  HANDLE copy = NULL;
  DWORD flags = 0;
  ntbridge_memory_info info = {0};
  (void)info;
  if (!ntbridge_DuplicateHandle(ntbridge_FdToHandle(STDOUT_FILENO), &copy, TRUE)) return 1;
  if (!ntbridge_GetHandleInformation(copy, &flags) || flags != HANDLE_FLAG_INHERIT) return 2;
  if (!ntbridge_CompareObjectHandles(copy, ntbridge_FdToHandle(STDOUT_FILENO))) return 3;
  if (!ntbridge_CloseHandle(copy)) return 4;
  printf("pkg-config: C headers and libntbridge work\n");
  return 0;
}
