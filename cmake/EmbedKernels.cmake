# Embeds every kernels/*.cuh as a string in a generated C++ file, with a lookup table by
# file name. The generated library is rebuilt whenever a kernel file changes.
include_guard(GLOBAL)

function(tilefuse_embed_kernels)
  cmake_parse_arguments(TF "" "NAME;DIR" "" ${ARGN})
  file(GLOB _cuh CONFIGURE_DEPENDS "${TF_DIR}/*.cuh")
  list(SORT _cuh)
  set(_out "${CMAKE_CURRENT_BINARY_DIR}/${TF_NAME}.cc")
  # A list would be split into separate arguments of the command; pass it joined by '|'.
  string(REPLACE ";" "|" _joined "${_cuh}")
  add_custom_command(
    OUTPUT "${_out}"
    COMMAND ${CMAKE_COMMAND} -DOUT=${_out} "-DFILES=${_joined}"
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedKernelsScript.cmake"
    DEPENDS ${_cuh} "${PROJECT_SOURCE_DIR}/cmake/EmbedKernelsScript.cmake"
    COMMENT "Embedding kernel templates"
    VERBATIM)
  add_library(${TF_NAME} STATIC "${_out}")
  target_include_directories(${TF_NAME} PUBLIC "${PROJECT_SOURCE_DIR}")
  add_library(tilefuse::${TF_NAME} ALIAS ${TF_NAME})
endfunction()
