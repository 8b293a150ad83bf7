# The Rust library: built by cargo (target neuneu_cargo), or taken from NEUNEU_LIB_DIR.
# Sets NEUNEU_CARGO_LIB_DIR (where libneuneu_ffi.a and .so are) and NEUNEU_NATIVE_STATIC_LIBS
# (the native libraries a program linking the static library needs, cached).

# "note: native-static-libs: -lgcc_s -lutil ..." in `text` -> the flags as a list.
function(neuneu_parse_native_libs text out)
  string(REGEX MATCH "native-static-libs: ([^\n]*)" _match "${text}")
  if(NOT _match)
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  string(STRIP "${CMAKE_MATCH_1}" _flags)
  separate_arguments(_flags UNIX_COMMAND "${_flags}")
  set(${out} "${_flags}" PARENT_SCOPE)
endfunction()

set(_features "")
if(NEUNEU_CPP)
  list(APPEND _features cpp)
endif()
if(NEUNEU_TEST_HOOKS)
  list(APPEND _features test_hooks)
endif()
if(NEUNEU_CARGO_FEATURES)
  string(REPLACE "," ";" _more "${NEUNEU_CARGO_FEATURES}")
  list(APPEND _features ${_more})
endif()
string(REPLACE ";" "," NEUNEU_FEATURES "${_features}")

if(NEUNEU_LIB_DIR)
  set(NEUNEU_CARGO_LIB_DIR "${NEUNEU_LIB_DIR}")
  add_custom_target(neuneu_cargo)
  if(NOT DEFINED NEUNEU_NATIVE_STATIC_LIBS)
    # No cargo run to ask: std's native libraries, from rustc on an empty static library, and
    # the C++ runtime the cxx shims need.
    find_program(NEUNEU_RUSTC rustc HINTS "$ENV{HOME}/.cargo/bin")
    set(_dir "${CMAKE_CURRENT_BINARY_DIR}/native-libs-probe")
    file(WRITE "${_dir}/empty.rs" "")
    execute_process(
      COMMAND "${NEUNEU_RUSTC}" --crate-type staticlib --print native-static-libs
              -o "${_dir}/libempty.a" "${_dir}/empty.rs"
      RESULT_VARIABLE _rc ERROR_VARIABLE _err OUTPUT_VARIABLE _out)
    neuneu_parse_native_libs("${_err}${_out}" _libs)
    if(NOT _libs)
      message(FATAL_ERROR "rustc printed no native-static-libs (exit ${_rc}): ${_err}")
    endif()
    if(NEUNEU_CPP)
      list(APPEND _libs -lstdc++)
    endif()
    set(NEUNEU_NATIVE_STATIC_LIBS "${_libs}" CACHE STRING "Native libraries of the static library")
  endif()
  return()
endif()

find_program(NEUNEU_CARGO cargo HINTS "$ENV{HOME}/.cargo/bin")
if(NOT NEUNEU_CARGO)
  message(FATAL_ERROR "cargo not found: install Rust (https://rustup.rs), or set NEUNEU_LIB_DIR "
                      "to libraries built already")
endif()
if(DEFINED ENV{CARGO_TARGET_DIR})
  set(_target_dir "$ENV{CARGO_TARGET_DIR}")
else()
  set(_target_dir "${NEUNEU_ROOT}/target")
endif()
set(NEUNEU_CARGO_TARGET_DIR "${_target_dir}" CACHE PATH
    "cargo's target directory (share it with cargo and maturin: one build of the dependencies)")
if(CMAKE_BUILD_TYPE STREQUAL "Debug")
  set(_profile dev)
  set(NEUNEU_CARGO_LIB_DIR "${NEUNEU_CARGO_TARGET_DIR}/debug")
else()
  set(_profile release)
  set(NEUNEU_CARGO_LIB_DIR "${NEUNEU_CARGO_TARGET_DIR}/release")
endif()

# One command for configure and build, so that cargo finds the second run fresh. `cargo rustc`
# passes `--print native-static-libs` to the library's own compilation only. It runs with the
# caller's CC and CXX (CMakeLists.txt keeps them from before project(), which sets its own):
# build scripts that compile C rebuild when those change, and builds from the caller's shell
# must find the same fingerprints, not rebuild the dependencies in turn.
set(_cargo_command "${CMAKE_COMMAND}" -E env)
foreach(_var CC CXX)
  if(DEFINED NEUNEU_CALLER_${_var})
    list(APPEND _cargo_command "${_var}=${NEUNEU_CALLER_${_var}}")
  else()
    list(APPEND _cargo_command "--unset=${_var}")
  endif()
endforeach()
list(APPEND _cargo_command "${NEUNEU_CARGO}" rustc --manifest-path "${NEUNEU_ROOT}/Cargo.toml"
     -p neuneu-ffi --lib --profile ${_profile} --target-dir "${NEUNEU_CARGO_TARGET_DIR}")
if(NEUNEU_FEATURES)
  list(APPEND _cargo_command --features "${NEUNEU_FEATURES}")
endif()
list(APPEND _cargo_command -- --print native-static-libs)

# The link flags are what cargo prints when it links the static library, so the first
# configure builds it (and the build step then finds it fresh). If cargo has nothing to do, it
# prints nothing: only neuneu-ffi's own artifacts are then cleaned and rebuilt (seconds).
set(_key "${_profile}|${NEUNEU_FEATURES}|${NEUNEU_CARGO_TARGET_DIR}")
if(NOT NEUNEU_NATIVE_STATIC_LIBS_KEY STREQUAL _key)
  message(STATUS "neuneu: cargo builds neuneu-ffi (${_profile}, features: ${NEUNEU_FEATURES}) "
                 "to learn its link flags")
  foreach(_attempt 1 2)
    execute_process(COMMAND ${_cargo_command} RESULT_VARIABLE _rc ERROR_VARIABLE _err)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "cargo failed (${_rc}):\n${_err}")
    endif()
    neuneu_parse_native_libs("${_err}" _libs)
    if(_libs)
      break()
    endif()
    execute_process(COMMAND "${NEUNEU_CARGO}" clean --manifest-path "${NEUNEU_ROOT}/Cargo.toml"
                            -p neuneu-ffi --profile ${_profile} --target-dir "${NEUNEU_CARGO_TARGET_DIR}"
                    RESULT_VARIABLE _rc ERROR_QUIET)
  endforeach()
  if(NOT _libs)
    message(FATAL_ERROR "cargo printed no native-static-libs:\n${_err}")
  endif()
  set(NEUNEU_NATIVE_STATIC_LIBS "${_libs}" CACHE STRING "Native libraries of the static library" FORCE)
  set(NEUNEU_NATIVE_STATIC_LIBS_KEY "${_key}" CACHE INTERNAL "")
endif()

# Every build asks cargo, which rebuilds only what changed.
add_custom_target(neuneu_cargo ALL
  COMMAND ${_cargo_command}
  BYPRODUCTS "${NEUNEU_CARGO_LIB_DIR}/libneuneu_ffi.a" "${NEUNEU_CARGO_LIB_DIR}/libneuneu_ffi.so"
  WORKING_DIRECTORY "${NEUNEU_ROOT}"
  USES_TERMINAL
  VERBATIM)
