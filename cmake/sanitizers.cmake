# NTBRIDGE_SANITIZE: empty, "address,undefined" or "thread". Applies to everything built.
set(NTBRIDGE_SANITIZE "" CACHE STRING "Sanitizers to build with (address,undefined or thread)")

# Vulkan hands the layer C enums (VkExternalMemoryHandleTypeFlagBits…) that hold whatever 32-bit value the
# application put there; validating them means reading them. The compilers never assume an enum's value range
# unless -fstrict-enums is given, so say so explicitly and keep UBSan's enum-range check off: a bad handleType
# is a Valid Usage violation for the layer to report, not undefined behaviour of the layer.
add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fno-strict-enums>)  # a C++ option (C has no such assumption)

# C and C++ only: nvcc, which compiles the CUDA kernels (bench/cuda, src/tool/cuda), takes no such option; the
# host code around them is instrumented like everything else.
if(NTBRIDGE_SANITIZE)
  add_compile_options(
    "$<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=${NTBRIDGE_SANITIZE};-fno-omit-frame-pointer;-fno-sanitize-recover=all>")
  add_link_options(-fsanitize=${NTBRIDGE_SANITIZE})
  if(NTBRIDGE_SANITIZE MATCHES "undefined")
    add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fno-sanitize=enum>)
  endif()
endif()
