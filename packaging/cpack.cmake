# `cpack -G DEB` (or TGZ) from a build folder: one package with the layer, its manifest, the broker and its
# systemd user units, the tool, the libraries, headers, CMake package and pkg-config file.
set(CPACK_PACKAGE_NAME ntbridge)
set(CPACK_PACKAGE_VENDOR "ntbridge")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "VK_KHR_external_memory_win32 for Linux Vulkan drivers (layer, broker, tool)")
set(CPACK_PACKAGE_CONTACT "ntbridge maintainers <ntbridge@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libvulkan1 (>= 1.3)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "vulkan-tools")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Vulkan layer VK_LAYER_NTBRIDGE_external_win32: Win32 NT, KMT and named memory handles on Linux drivers\n that only offer VK_KHR_external_memory_fd, with the ntbridge tool and the libntbridge library.")
include(CPack)
