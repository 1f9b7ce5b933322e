# tilefuse_cc_library / tilefuse_cc_test, after Abseil's helpers: every library gets a
# namespaced alias (tilefuse::NAME) so that in-tree and installed users spell it the same.
include_guard(GLOBAL)

function(tilefuse_cc_library)
  cmake_parse_arguments(TF "" "NAME" "SRCS;HDRS;DEPS;PUBLIC_INCLUDES" ${ARGN})
  add_library(${TF_NAME} STATIC ${TF_SRCS} ${TF_HDRS})
  target_include_directories(${TF_NAME} PUBLIC
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>" ${TF_PUBLIC_INCLUDES})
  target_link_libraries(${TF_NAME} PUBLIC ${TF_DEPS})
  add_library(tilefuse::${TF_NAME} ALIAS ${TF_NAME})
endfunction()

function(tilefuse_cc_test)
  cmake_parse_arguments(TF "GPU" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${TF_NAME} ${TF_SRCS})
  target_link_libraries(${TF_NAME} PRIVATE ${TF_DEPS} GTest::gtest GTest::gtest_main)
  if(TF_GPU)
    # GPU suites skip cleanly without a driver; the label lets scripts pick them.
    add_test(NAME ${TF_NAME} COMMAND ${TF_NAME})
    set_tests_properties(${TF_NAME} PROPERTIES LABELS gpu)
  else()
    add_test(NAME ${TF_NAME} COMMAND ${TF_NAME})
    set_tests_properties(${TF_NAME} PROPERTIES LABELS cpu)
  endif()
endfunction()
