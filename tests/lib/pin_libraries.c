/* Preloaded into the tool under sanitizer builds: keeps the layer and the driver loaded until exit, so that
 * LeakSanitizer can name what their globals still hold instead of reporting it from an unloaded
 * "<unknown module>" (the same thing tests/support/vk_fixture.cpp does for the GoogleTest programs). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((constructor)) static void PinLibraries(void) {
  const char* layer = getenv("NTBRIDGE_PIN_LAYER"); /* the layer library itself, when given */
  const char* dir = getenv("VK_ADD_LAYER_PATH");
  if (layer != NULL) {
    dlopen(layer, RTLD_NOW | RTLD_NODELETE);
  } else if (dir != NULL) {
    char path[4096];
    snprintf(path, sizeof path, "%s/libVkLayer_ntbridge_external_win32.so", dir);
    dlopen(path, RTLD_NOW | RTLD_NODELETE);
  }
  dlopen("libvulkan_lvp.so", RTLD_NOW | RTLD_NODELETE);
}
