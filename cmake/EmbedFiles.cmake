# Embeds files as strings in a generated C++ file: a function returning a table of
# (file name, text). The library is rebuilt whenever one of the files changes.
#   tilefuse_embed_files(NAME lib DIR dir PATTERN "*.cuh" FUNCTION EmbeddedKernelFiles)
include_guard(GLOBAL)

function(tilefuse_embed_files)
  cmake_parse_arguments(TF "" "NAME;DIR;PATTERN;FUNCTION" "" ${ARGN})
  file(GLOB _cuh CONFIGURE_DEPENDS "${TF_DIR}/${TF_PATTERN}")
  list(SORT _cuh)
  set(_out "${CMAKE_CURRENT_BINARY_DIR}/${TF_NAME}.cc")
  # A list would be split into separate arguments of the command; pass it joined by '|'.
  string(REPLACE ";" "|" _joined "${_cuh}")
  add_custom_command(
    OUTPUT "${_out}"
    COMMAND ${CMAKE_COMMAND} -DOUT=${_out} "-DFILES=${_joined}" -DFUNCTION=${TF_FUNCTION}
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedFilesScript.cmake"
    DEPENDS ${_cuh} "${PROJECT_SOURCE_DIR}/cmake/EmbedFilesScript.cmake"
    COMMENT "Embedding ${TF_PATTERN} from ${TF_DIR}"
    VERBATIM)
  add_library(${TF_NAME} STATIC "${_out}")
  target_include_directories(${TF_NAME} PUBLIC "${PROJECT_SOURCE_DIR}")
  add_library(tilefuse::${TF_NAME} ALIAS ${TF_NAME})
endfunction()
