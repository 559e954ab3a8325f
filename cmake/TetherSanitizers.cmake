# TETHER_SANITIZE: "" (off), "address,undefined" or "thread". Applied per target by the presets.
set(TETHER_SANITIZE "" CACHE STRING "Sanitizers for tether's targets: address,undefined | thread")

function(tether_enable_sanitizers target)
  if(TETHER_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${TETHER_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PUBLIC -fsanitize=${TETHER_SANITIZE})
  endif()
endfunction()
