#!/usr/bin/env bash
# Installs what the GPU-less kernel tests need, from PyPI: NVRTC (libnvrtc.so.12, compiles
# kernels/encoder.cu to PTX) and ptxas (assembles the PTX, reports registers and spills).
# No GPU, driver or CUDA toolkit needed.
#
# Usage: eval "$(kernels/install-cuda-tools.sh [DIR])"
#   DIR defaults to $NEUNEU_CUDA_TOOLS or ~/.cache/neuneu-cuda-tools. Progress goes to stderr;
#   stdout is only the `export` lines, so that eval picks them up.
set -euo pipefail

VERSION=12.9.86
DIR="${1:-${NEUNEU_CUDA_TOOLS:-$HOME/.cache/neuneu-cuda-tools}}"
NVRTC_LIB="$DIR/nvidia/cuda_nvrtc/lib"
PTXAS="$DIR/nvidia/cuda_nvcc/bin/ptxas"

if [[ ! -e "$NVRTC_LIB/libnvrtc.so.12" || ! -x "$PTXAS" ]]; then
    echo "installing nvidia-cuda-nvrtc-cu12 and nvidia-cuda-nvcc-cu12 $VERSION into $DIR" >&2
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$DIR" \
        "nvidia-cuda-nvrtc-cu12==$VERSION" "nvidia-cuda-nvcc-cu12==$VERSION" >&2
fi
if [[ ! -e "$NVRTC_LIB/libnvrtc.so.12" ]]; then
    echo "error: $NVRTC_LIB/libnvrtc.so.12 missing after install" >&2
    exit 1
fi
if [[ ! -x "$PTXAS" ]]; then
    echo "error: $PTXAS missing after install" >&2
    exit 1
fi

echo "export LD_LIBRARY_PATH=\"$NVRTC_LIB\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
echo "export NEUNEU_PTXAS=\"$PTXAS\""
