# NTBRIDGE_SANITIZE: empty, "address,undefined" or "thread". Applies to everything built.
set(NTBRIDGE_SANITIZE "" CACHE STRING "Sanitizers to build with (address,undefined or thread)")
if(NTBRIDGE_SANITIZE)
  add_compile_options(-fsanitize=${NTBRIDGE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${NTBRIDGE_SANITIZE})
endif()
