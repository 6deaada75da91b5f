# `cpack -G DEB` (or TGZ) from a build folder. The .deb packages are:
#   ntbridge       the layer, its manifest, the broker and its systemd user units, the tool, libntbridge,
#                  headers, CMake package and pkg-config file. Depends: the Vulkan loader and what
#                  dpkg-shlibdeps finds for its programs (libc, libstdc++); nothing of CUDA, so it installs on
#                  any machine.
#   ntbridge-cuda  libntbridge_cuda, where the CUDA toolkit was found. Depends: ntbridge, the CUDA runtime.
set(CPACK_PACKAGE_NAME ntbridge)
set(CPACK_PACKAGE_VENDOR "ntbridge")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# The first line of every package's description (CPack has no summary per component).
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "VK_KHR_external_memory_win32 for Linux Vulkan drivers")
set(CPACK_PACKAGE_CONTACT "ntbridge maintainers <ntbridge@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)

# One package per install component: everything without a component ("Unspecified") is ntbridge.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_NAME ntbridge)
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_SHLIBDEPS ON)
# The layer is loaded by the loader, which no program of the package has to link: say so explicitly.
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_DEPENDS "libvulkan1 (>= 1.3)")
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_RECOMMENDS "vulkan-tools")
string(CONCAT CPACK_DEBIAN_UNSPECIFIED_DESCRIPTION
    "Vulkan layer VK_LAYER_NTBRIDGE_external_win32: Win32 NT, KMT and named memory handles on Linux drivers\n"
    "that only offer VK_KHR_external_memory_fd, with its broker ntbridged, the ntbridge tool and the\n"
    "libntbridge library.")

if(NTBRIDGE_HAVE_CUDA)
  find_package(CUDAToolkit REQUIRED)  # its version names the runtime package (variables are per folder)
  # libcudart.so.N comes from Debian's libcudartN (libcudart11.0 before CUDA 12) or NVIDIA's cuda-cudart-N-M;
  # dpkg-shlibdeps cannot name it where the toolkit was not installed from a package.
  set(cudart_debian libcudart${CUDAToolkit_VERSION_MAJOR})
  if(CUDAToolkit_VERSION_MAJOR LESS 12)
    string(APPEND cudart_debian ".0")
  endif()
  set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_SUGGESTS "ntbridge-cuda")
  set(CPACK_DEBIAN_CUDA_PACKAGE_NAME ntbridge-cuda)
  set(CPACK_DEBIAN_CUDA_PACKAGE_SECTION libs)
  set(cudart_nvidia cuda-cudart-${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR})
  set(CPACK_DEBIAN_CUDA_PACKAGE_DEPENDS
      "ntbridge (= ${PROJECT_VERSION}), ${cudart_debian} | ${cudart_nvidia}")
  string(CONCAT CPACK_DEBIAN_CUDA_DESCRIPTION
      "libntbridge_cuda: imports memory exported through VK_LAYER_NTBRIDGE_external_win32 into CUDA\n"
      "(cudaImportExternalMemory), for applications of the ntbridge package that use CUDA.")
  unset(cudart_debian)
  unset(cudart_nvidia)
endif()
include(CPack)
