#!/usr/bin/env bash
# Build a CUDA wheel of llama-cpp-python from its source distribution.
#
# usage: build_cuda_llama.sh SDIST(.tar.gz or unpacked folder) WHEEL_DIR [CUDA_ARCH]
# Needs nvcc, cmake, ninja, and scikit-build-core importable by the running python3.
# Only the CUDA backend is built (one GPU architecture, default 90 = Hopper) to keep it short.
set -euo pipefail
sdist=$1
wheel_dir=$2
arch=${3:-90}
work=$(mktemp -d)
if [ -d "$sdist" ]; then src=$sdist; else tar xzf "$sdist" -C "$work"; src=$(echo "$work"/llama_cpp_python-*); fi
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$arch -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
start=$(date +%s)
python3 -m pip wheel --no-build-isolation --no-deps -w "$wheel_dir" "$src"
echo "built in $(( $(date +%s) - start )) s: $(ls "$wheel_dir"/llama_cpp_python-*.whl)"
