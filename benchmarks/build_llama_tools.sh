#!/usr/bin/env bash
# Build llama.cpp's own command-line tools for the CPU, from the llama-cpp-python sdist that
# Quantdesk installs, so benchmarks compare against the same llama.cpp source.
#
# usage: build_llama_tools.sh OUT_DIR [SDIST.tar.gz]
# Puts llama-quantize, llama-perplexity, llama-imatrix, llama-bench and llama-server (and the
# shared libraries they need) in OUT_DIR/build/bin; without SDIST it is fetched from the package
# registry with pip. Takes about 10 minutes on two cores; a second call with the same OUT_DIR
# only rebuilds what changed.
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd)
sdist=${2:-}
version=0.3.36
if [ -z "$sdist" ]; then
    python3 -m pip download --quiet --no-binary :all: --no-deps "llama-cpp-python==$version" -d "$out"
    sdist=$out/llama_cpp_python-$version.tar.gz
fi
if [ ! -d "$out/src" ]; then
    mkdir -p "$out/src"
    tar xzf "$sdist" -C "$out/src" --strip-components=1
fi
cmake -S "$out/src/vendor/llama.cpp" -B "$out/build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON > "$out/cmake.log"
start=$(date +%s)
cmake --build "$out/build" -j "${JOBS:-$(nproc)}" \
    --target llama-quantize llama-perplexity llama-imatrix llama-bench llama-server > "$out/build.log"
echo "llama.cpp tools built in $(($(date +%s) - start)) s: $(ls "$out/build/bin" | grep '^llama-' | tr '\n' ' ')"
