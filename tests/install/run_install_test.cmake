# Installs the build into a staging prefix and uses what was installed: the layer and its manifest, the
# library (find_package and pkg-config) and the tool. Variables: BUILD_DIR, STAGE, SOURCE_DIR, C_COMPILER.
function(run)
  cmake_parse_arguments(R "" "" "COMMAND;ENV" ${ARGN})
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=VK_ADD_LAYER_PATH ${R_ENV} ${R_COMMAND}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${R_COMMAND}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
  set(OUT "${out}" PARENT_SCOPE)
endfunction()

# DESTDIR and --prefix /usr, as a package is built: anything installed to an absolute path stays inside
# the staging root, and the installed files must not depend on the prefix chosen at configure time.
set(PREFIX ${STAGE}/root/usr)
file(REMOVE_RECURSE ${STAGE})
run(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix /usr ENV DESTDIR=${STAGE}/root)

include(GNUInstallDirs)
set(LAYER_DIR ${PREFIX}/share/vulkan/explicit_layer.d)
foreach(f bin/ntbridge ${CMAKE_INSTALL_LIBDIR}/libntbridge.so share/vulkan/explicit_layer.d/VkLayer_ntbridge_external_win32.json
          include/ntbridge/handle.hpp include/ntbridge/compat/windows.h ${CMAKE_INSTALL_LIBDIR}/cmake/ntbridge/ntbridgeConfig.cmake
          ${CMAKE_INSTALL_LIBDIR}/pkgconfig/ntbridge.pc)
  if(NOT EXISTS ${PREFIX}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
if(EXISTS ${BUILD_DIR}/layer/ntbridged)  # the broker and its systemd user units, where the broker is built
  if(NOT EXISTS ${PREFIX}/bin/ntbridged)
    message(FATAL_ERROR "not installed: bin/ntbridged")
  endif()
  file(GLOB_RECURSE units ${STAGE}/root/*ntbridged.socket)
  if(NOT units)
    message(FATAL_ERROR "the systemd user unit ntbridged.socket was not installed")
  endif()
endif()
file(READ ${LAYER_DIR}/VkLayer_ntbridge_external_win32.json manifest)
string(JSON library GET "${manifest}" layer library_path)
if(NOT IS_ABSOLUTE "${library}")
  set(library ${LAYER_DIR}/${library})
endif()
if(NOT EXISTS ${library})
  message(FATAL_ERROR "the installed manifest's library_path does not lead to the installed layer: ${library}")
endif()

# A CMake application against the installed package, run against the installed manifest.
set(SANITIZE_FLAGS "")
set(RUN_ENV "")
if(PIN_PRELOAD)
  set(RUN_ENV "LD_PRELOAD=${PIN_PRELOAD}"
              "NTBRIDGE_PIN_LAYER=${PREFIX}/${CMAKE_INSTALL_LIBDIR}/libVkLayer_ntbridge_external_win32.so")
endif()
if(SANITIZE)
  set(SANITIZE_FLAGS "-fsanitize=${SANITIZE}")
endif()
run(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/consumer -B ${STAGE}/consumer -DCMAKE_PREFIX_PATH=${PREFIX}
            "-DCMAKE_CXX_FLAGS=${SANITIZE_FLAGS}")
run(COMMAND ${CMAKE_COMMAND} --build ${STAGE}/consumer)
run(COMMAND ${STAGE}/consumer/consumer ENV VK_ADD_LAYER_PATH=${LAYER_DIR} ${RUN_ENV})

# A C program with pkg-config's flags.
run(COMMAND pkg-config --cflags --libs ntbridge ENV PKG_CONFIG_PATH=${PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig)
separate_arguments(flags UNIX_COMMAND "${OUT}")
run(COMMAND ${C_COMPILER} -std=c11 -Wall -Werror ${SANITIZE_FLAGS} ${SOURCE_DIR}/pkgconfig_check.c ${flags}
            -Wl,-rpath,${PREFIX}/${CMAKE_INSTALL_LIBDIR} -o ${STAGE}/pkgconfig_check)
run(COMMAND ${STAGE}/pkgconfig_check ENV ${RUN_ENV})

# The installed tool finds the installed layer by itself (VK_ADD_LAYER_PATH unset).
run(COMMAND ${PREFIX}/bin/ntbridge info --json ENV ${RUN_ENV})
if(NOT OUT MATCHES "\"layerPath\": \"${LAYER_DIR}\"")
  message(FATAL_ERROR "the installed tool did not use the installed manifest folder ${LAYER_DIR}:\n${OUT}")
endif()
run(COMMAND ${PREFIX}/bin/ntbridge demo --mode nt --frames 10 --size 65536 ENV ${RUN_ENV})

# The CUDA consumer's plugin, where it was built, is installed where the installed tool looks for it: asked
# for it, the tool gets past that check (here, without an NVIDIA GPU, it then says why CUDA cannot run).
if(EXISTS ${BUILD_DIR}/src/tool/ntbridge_demo_cuda.so)
  if(NOT EXISTS ${PREFIX}/${CMAKE_INSTALL_LIBDIR}/ntbridge/ntbridge_demo_cuda.so)
    message(FATAL_ERROR "not installed: ${CMAKE_INSTALL_LIBDIR}/ntbridge/ntbridge_demo_cuda.so")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=VK_ADD_LAYER_PATH ${RUN_ENV} ${PREFIX}/bin/ntbridge
                          demo --consumer cuda --mode nt --frames 10 --size 65536
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if("${out}${err}" MATCHES "is not installed|cannot load the CUDA consumer")
    message(FATAL_ERROR "the installed tool does not find the installed CUDA consumer:\n${out}\n${err}")
  endif()
endif()
