#!/usr/bin/env bash
# Single-stream decode speed and concurrent serving on one NVIDIA GPU, Quantdesk against
# llama.cpp's own tools built from the same source, as one command:
#
#   benchmarks/gpu/serve_bench.sh [OUT_DIR]        (default OUT_DIR: $OUT, else ./serve-bench)
#
# 1. builds the CUDA wheel of llama-cpp-python (build_cuda_llama.sh) and, from the same
#    sdist, llama.cpp's llama-bench and llama-server with CUDA; installs the wheel in SITE;
# 2. writes a Llama-3-8B-shaped random checkpoint and converts it to F16, Q8_0 and Q4_K_M;
# 3. for each level: benchmarks/decode_speed.py (tg128: llama-bench, the plain eval loop,
#    Llama.generate, the worker), all layers on the GPU;
# 4. for Q4_K_M: benchmarks/serve_load.py at 4 and 16 clients against quantdesk serve and
#    llama-server, both with --parallel 4, then both with --parallel 16.
# Results (Markdown tables, JSON, logs) land in OUT_DIR. Environment, with defaults:
#   GPU_DIR=<repo>/.gpu   llama_cpp_python-*.tar.gz and fixtures/llama-bpe (the tokenizer)
#   SDIST=<GPU_DIR/llama_cpp_python-*.tar.gz>  TOKENIZER=<GPU_DIR/fixtures/llama-bpe>
#   SITE=/tmp/site  WORK=/tmp/serve-bench (models, builds)  PYTHON=python3  CUDA_ARCH=90
#   SKIP_BUILD=1 reuses the wheel in SITE and the tools in WORK/build.
# The machine needs the project's Python dependencies; starlette and uvicorn are installed
# from GPU_DIR/whl when missing.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$(realpath -m "${1:-${OUT:-serve-bench}}")
gpu_dir=${GPU_DIR:-$repo/.gpu}
sdist=${SDIST:-$(compgen -G "$gpu_dir/llama_cpp_python-*.tar.gz" | head -n 1 || true)}
tokenizer=${TOKENIZER:-$gpu_dir/fixtures/llama-bpe}
site=${SITE:-/tmp/site}
work=${WORK:-/tmp/serve-bench}
python=${PYTHON:-python3}
arch=${CUDA_ARCH:-90}
jobs=$(nproc)
mkdir -p "$out" "$work" "$site"
stamp() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/serve_bench.log"; }

# Checked before the builds, so a missing package fails in seconds, not after them.
# quantdesk serve needs its HTTP stack; without a network, bring the wheels in GPU_DIR/whl
# (pip download --no-deps starlette uvicorn -d .gpu/whl; their own dependencies anyio,
# h11 and click come with huggingface-hub and httpx).
if ! "$python" -c "import starlette, uvicorn" 2> /dev/null; then
    "$python" -m pip install --quiet --no-index --no-deps --find-links "$gpu_dir/whl" --target "$site" starlette uvicorn \
        || { echo "starlette/uvicorn missing: put their wheels in $gpu_dir/whl"; exit 2; }
fi

if [ -z "${SKIP_BUILD:-}" ]; then
    [ -f "$sdist" ] || { echo "no llama-cpp-python sdist (set SDIST or put it in $gpu_dir)"; exit 2; }
    stamp "building the CUDA wheel"
    bash "$repo/benchmarks/gpu/build_cuda_llama.sh" "$sdist" "$work/whl" "$arch" >> "$out/build.log" 2>&1
    "$python" -m pip install --quiet --no-index --no-deps --upgrade --target "$site" "$work"/whl/llama_cpp_python-*.whl
    stamp "building llama-bench and llama-server with CUDA"
    rm -rf "$work/src" && mkdir -p "$work/src" && tar xzf "$sdist" -C "$work/src"
    src=$(echo "$work"/src/llama_cpp_python-*/vendor/llama.cpp)
    cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=on \
        -DCMAKE_CUDA_ARCHITECTURES="$arch" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF >> "$out/build.log" 2>&1
    cmake --build "$work/build" -j "$jobs" --target llama-bench llama-server >> "$out/build.log" 2>&1
fi
bench=$work/build/bin/llama-bench
server=$work/build/bin/llama-server
export PYTHONPATH="$repo:$site${PYTHONPATH:+:$PYTHONPATH}"
cd "$repo"

if [ ! -f "$work/models/llama3-8b-Q4_K_M.gguf" ]; then
    stamp "writing the Llama-3-8B-shaped checkpoint and converting it"
    "$python" - "$work/checkpoint" "$tokenizer" <<'EOF'
import sys
from pathlib import Path
from benchmarks.gpu.synthetic_llama import SHAPES, write_checkpoint
write_checkpoint(SHAPES["llama3-8b"], Path(sys.argv[1]), Path(sys.argv[2]))
EOF
    "$python" -m desktop.cli convert "$work/checkpoint" --out "$work/models" --outtype f16 \
        --quant Q8_0,Q4_K_M >> "$out/convert.log" 2>&1
    for f in "$work"/models/*.gguf; do
        case "$f" in
            *Q4_K_M*) mv "$f" "$work/models/llama3-8b-Q4_K_M.gguf" ;;
            *Q8_0*) mv "$f" "$work/models/llama3-8b-Q8_0.gguf" ;;
            *) mv "$f" "$work/models/llama3-8b-F16.gguf" ;;
        esac
    done
    rm -rf "$work/checkpoint"
fi

for level in Q4_K_M Q8_0 F16; do
    stamp "single stream, $level"
    "$python" -m benchmarks.decode_speed "$work/models/llama3-8b-$level.gguf" --gpu-layers -1 \
        --llama-bench "$bench" --rounds 3 --json "$out/decode-$level.json" \
        | tee "$out/decode-$level.md"
done

for parallel in 4 16; do
    stamp "serving, Q4_K_M, --parallel $parallel"
    "$python" -m benchmarks.serve_load "$work/models/llama3-8b-Q4_K_M.gguf" --gpu-layers -1 \
        --llama-server "$server" --parallel "$parallel" --clients "$parallel" --tokens 128 \
        --ctx 2048 --log-dir "$out" --json "$out/serve-parallel$parallel.json" \
        | tee "$out/serve-parallel$parallel.md"
done
stamp "done: results in $out"
