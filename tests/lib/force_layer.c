/* Preloaded by tests/lib/check_info_native.py: a process environment that ntbridge cannot clean, as a
 * launcher that injects layers would make. Every process that loads it — the tool and the process the tool
 * starts to ask the driver alone — enables VK_LAYER_NTBRIDGE_external_win32 from
 * NTBRIDGE_TEST_FORCE_LAYER_PATH and drops VK_LOADER_LAYERS_DISABLE, so `ntbridge info` must say that it
 * could not ask the driver alone. */
#include <stdlib.h>

__attribute__((constructor)) static void ForceLayer(void) {
  const char* dir = getenv("NTBRIDGE_TEST_FORCE_LAYER_PATH");
  if (dir == NULL) return;
  setenv("VK_ADD_LAYER_PATH", dir, 1);
  setenv("VK_LOADER_LAYERS_ENABLE", "VK_LAYER_NTBRIDGE_external_win32", 1);
  unsetenv("VK_LOADER_LAYERS_DISABLE");
}
