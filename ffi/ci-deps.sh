#!/usr/bin/env bash
# Installs what the C/C++ tests (ffi/tests/c_abi.rs, ffi/tests/cpp_api.rs) need and a fresh machine may
# lack: cmake, valgrind, pkg-config and a C++ compiler. Idempotent: installs only what is missing.
set -euo pipefail
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v c++ >/dev/null || missing+=(g++)
command -v readelf >/dev/null || missing+=(binutils)
if ((${#missing[@]})); then
  echo "ffi/ci-deps.sh: installing ${missing[*]}" >&2
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
