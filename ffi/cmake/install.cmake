# Installs the libraries under their installed names, the headers, the CMake package and the
# pkg-config files; every file found relative to where it lies, so the prefix can move.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(FILES "${NEUNEU_CARGO_LIB_DIR}/libneuneu_ffi.a"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}" RENAME libneuneu.a)
install(PROGRAMS "${NEUNEU_CARGO_LIB_DIR}/libneuneu_ffi.so"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}" RENAME "${NEUNEU_SONAME}")
install(CODE "file(CREATE_LINK \"${NEUNEU_SONAME}\"
  \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libneuneu.so\" SYMBOLIC)")
install(FILES "${NEUNEU_C_INCLUDE_DIR}/neuneu.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
if(NEUNEU_CPP)
  install(FILES "${NEUNEU_CPP_INCLUDE_DIR}/neuneu.hpp" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
  install(FILES "${NEUNEU_CXX_INCLUDE_DIR}/rust/cxx.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/rust")
  install(FILES "${NEUNEU_CXX_INCLUDE_DIR}/neuneu-ffi/src/cxx_bridge.rs.h"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/neuneu-ffi/src")
endif()

set(NEUNEU_CONFIG_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/neuneu")
configure_package_config_file("${CMAKE_CURRENT_SOURCE_DIR}/cmake/neuneuConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/neuneuConfig.cmake"
  INSTALL_DESTINATION "${NEUNEU_CONFIG_DIR}"
  PATH_VARS CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR)
# 0.x: a minor version may break the API, so a request for 0.1 takes 0.1.* only.
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/neuneuConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/neuneuConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/neuneuConfigVersion.cmake"
        DESTINATION "${NEUNEU_CONFIG_DIR}")

# pkg-config: the prefix is the .pc file's own folder, up as many levels as libdir/pkgconfig.
string(REGEX REPLACE "[^/]+" ".." NEUNEU_PC_UP "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
string(REPLACE ";" " " NEUNEU_PC_NATIVE "${NEUNEU_NATIVE_STATIC_LIBS}")
foreach(pc neuneu neuneu-static)
  configure_file("${CMAKE_CURRENT_SOURCE_DIR}/cmake/${pc}.pc.in" "${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc" @ONLY)
  install(FILES "${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
endforeach()
