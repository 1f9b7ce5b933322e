# cmake --install: the shared library, the header tree, the command-line tool, a CMake
# package (find_package(tilefuse) -> tilefuse::tilefuse) and a pkg-config file. Both are
# relocatable: moving the prefix keeps them working.
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

set(TILEFUSE_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/tilefuse")
install(TARGETS tilefuse EXPORT tilefuseTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/tilefuse" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  FILES_MATCHING PATTERN "*.h")
install(FILES "${PROJECT_BINARY_DIR}/include/tilefuse/version.h"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/tilefuse")
install(TARGETS tilefuse_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(EXPORT tilefuseTargets NAMESPACE tilefuse:: DESTINATION "${TILEFUSE_CMAKE_DIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/tilefuseConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/tilefuseConfig.cmake" INSTALL_DESTINATION "${TILEFUSE_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/tilefuseConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/tilefuseConfig.cmake" "${PROJECT_BINARY_DIR}/tilefuseConfigVersion.cmake"
  DESTINATION "${TILEFUSE_CMAKE_DIR}")

file(RELATIVE_PATH TILEFUSE_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file("${PROJECT_SOURCE_DIR}/cmake/tilefuse.pc.in" "${PROJECT_BINARY_DIR}/tilefuse.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/tilefuse.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
