# `cpack -G DEB` builds the package ntbridge, which holds the layer with a manifest leading to it, the broker,
# the tool, the library with its headers, CMake package and pkg-config file, and declares what it needs at
# run time (the Vulkan loader) and nothing of CUDA; where libntbridge_cuda was built, it is in ntbridge-cuda
# with the demo's CUDA consumer (the plugin `ntbridge demo --consumer cuda` loads), which depends on ntbridge
# and the CUDA runtime. Variables: BUILD_DIR, OUT, HAVE_CUDA.
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${CMAKE_CPACK_COMMAND} --config ${BUILD_DIR}/CPackConfig.cmake -G DEB -B ${OUT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cpack -G DEB failed (${rc}):\n${out}\n${err}")
endif()
file(GLOB debs ${OUT}/*.deb)
file(GLOB main ${OUT}/ntbridge_*.deb)
file(GLOB cuda ${OUT}/ntbridge-cuda_*.deb)
list(LENGTH main main_count)
list(LENGTH cuda cuda_count)
list(LENGTH debs count)
if(HAVE_CUDA)
  set(expected 2)
else()
  set(expected 1)
endif()
if(NOT main_count EQUAL 1 OR NOT count EQUAL expected OR (HAVE_CUDA AND NOT cuda_count EQUAL 1))
  message(FATAL_ERROR "expected ${expected} packages in ${OUT}: ntbridge_*.deb and, where CUDA was found "
                      "(${HAVE_CUDA}), ntbridge-cuda_*.deb; found: ${debs}")
endif()

function(control deb field out)
  execute_process(COMMAND dpkg-deb -f ${deb} ${field} OUTPUT_VARIABLE value OUTPUT_STRIP_TRAILING_WHITESPACE
                  COMMAND_ERROR_IS_FATAL ANY)
  set(${out} "${value}" PARENT_SCOPE)
endfunction()
function(expect_listed deb listing)
  foreach(path ${ARGN})
    string(FIND "${listing}" "${path}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${deb} lacks ${path}:\n${listing}")
    endif()
  endforeach()
endfunction()

# The main package: its files.
execute_process(COMMAND dpkg-deb -c ${main} OUTPUT_VARIABLE listing COMMAND_ERROR_IS_FATAL ANY)
expect_listed(${main} "${listing}" ./usr/bin/ntbridge ./usr/bin/ntbridged
              /libVkLayer_ntbridge_external_win32.so /libntbridge.so
              ./usr/share/vulkan/explicit_layer.d/VkLayer_ntbridge_external_win32.json
              ./usr/include/ntbridge/handle.h ./usr/include/ntbridge/compat/windows.h
              /cmake/ntbridge/ntbridgeConfig.cmake /pkgconfig/ntbridge.pc /systemd/user/ntbridged.socket)
# Everything under /usr, nothing under /usr/local.
string(FIND "${listing}" "./usr/local/" at)
if(NOT at EQUAL -1)
  message(FATAL_ERROR "the .deb installs under /usr/local:\n${listing}")
endif()
if(listing MATCHES "ntbridge_cuda|ntbridgeCudaTargets|ntbridge_demo_cuda")
  message(FATAL_ERROR "the package ntbridge holds libntbridge_cuda or the demo's CUDA consumer, which need "
                      "CUDA:\n${listing}")
endif()

# The main package: what it declares.
control(${main} Package package)
control(${main} Version version)
control(${main} Depends depends)
control(${main} Pre-Depends pre_depends)
control(${main} Recommends recommends)
message(STATUS "${main}\n  Package: ${package}\n  Version: ${version}\n  Depends: ${depends}\n  Recommends: "
               "${recommends}")
if(NOT package STREQUAL "ntbridge")
  message(FATAL_ERROR "the main package is called '${package}', not ntbridge")
endif()
# The Vulkan loader; libc and libstdc++ from dpkg-shlibdeps, which reads what the programs link.
foreach(need libvulkan1 libc6 libstdc\\+\\+6)
  if(NOT depends MATCHES "(^|, )${need}( |,|$)")
    message(FATAL_ERROR "the package ntbridge does not depend on ${need}: Depends: ${depends}")
  endif()
endforeach()
# Installable without CUDA: nothing it requires or pulls in by default is CUDA.
string(TOLOWER "${depends} ${pre_depends} ${recommends}" required)
if(required MATCHES "cuda|nvidia")
  message(FATAL_ERROR "the package ntbridge requires CUDA: Depends: ${depends} Pre-Depends: ${pre_depends} "
                      "Recommends: ${recommends}")
endif()

# apt resolves everything the package depends on from what this machine has or can get (a simulation:
# nothing is installed). On a machine without CUDA packages this is the install the issue asked for.
find_program(APT_GET apt-get)
if(APT_GET)
  execute_process(COMMAND ${APT_GET} install --simulate --no-install-recommends ${main}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "apt-get would not install ${main}:\n${out}\n${err}")
  endif()
endif()

# The packaged manifest leads to the packaged layer.
execute_process(COMMAND dpkg-deb -x ${main} ${OUT}/root COMMAND_ERROR_IS_FATAL ANY)
set(manifest_dir ${OUT}/root/usr/share/vulkan/explicit_layer.d)
file(READ ${manifest_dir}/VkLayer_ntbridge_external_win32.json manifest)
string(JSON library GET "${manifest}" layer library_path)
if(IS_ABSOLUTE "${library}")
  set(library ${OUT}/root${library})
else()
  set(library ${manifest_dir}/${library})
endif()
if(NOT EXISTS ${library})
  message(FATAL_ERROR "the packaged manifest's library_path ${library} does not exist in the package")
endif()

# The CUDA package: libntbridge_cuda and its CMake targets, on top of ntbridge and the CUDA runtime.
if(HAVE_CUDA)
  execute_process(COMMAND dpkg-deb -c ${cuda} OUTPUT_VARIABLE cuda_listing COMMAND_ERROR_IS_FATAL ANY)
  expect_listed(${cuda} "${cuda_listing}" /libntbridge_cuda.so /cmake/ntbridge/ntbridgeCudaTargets.cmake)
  if(EXISTS ${BUILD_DIR}/src/tool/ntbridge_demo_cuda.so)  # built where nvcc was found too
    expect_listed(${cuda} "${cuda_listing}" /ntbridge/ntbridge_demo_cuda.so)
  endif()
  control(${cuda} Package cuda_package)
  control(${cuda} Depends cuda_depends)
  message(STATUS "${cuda}\n  Package: ${cuda_package}\n  Depends: ${cuda_depends}")
  if(NOT cuda_package STREQUAL "ntbridge-cuda")
    message(FATAL_ERROR "the CUDA package is called '${cuda_package}', not ntbridge-cuda")
  endif()
  string(FIND "${cuda_depends}" "ntbridge (= ${version})" at)
  if(at EQUAL -1 OR NOT cuda_depends MATCHES "libcudart[0-9.]+ \\| cuda-cudart-[0-9]+-[0-9]+")
    message(FATAL_ERROR "ntbridge-cuda must depend on ntbridge (= ${version}) and the CUDA runtime: "
                        "Depends: ${cuda_depends}")
  endif()
endif()
