# Warnings are errors for the project's own targets.
function(ntbridge_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror -Wshadow -Wno-missing-field-initializers)
endfunction()
