# NEUNEU_ABI_VERSION, read from ffi/src/lib.rs, where it is defined (and from where cbindgen
# writes it into neuneu.h and build.rs into the SONAME).
file(STRINGS "${CMAKE_CURRENT_SOURCE_DIR}/src/lib.rs" _neuneu_abi
     REGEX "^pub const NEUNEU_ABI_VERSION: u32 = [0-9]+;")
string(REGEX REPLACE "^.*= ([0-9]+).*$" "\\1" NEUNEU_ABI_VERSION "${_neuneu_abi}")
if(NOT NEUNEU_ABI_VERSION MATCHES "^[0-9]+$")
  message(FATAL_ERROR "no `pub const NEUNEU_ABI_VERSION: u32 = <n>;` in ffi/src/lib.rs")
endif()
