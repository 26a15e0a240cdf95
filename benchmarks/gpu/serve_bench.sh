#!/usr/bin/env bash
# Single-stream decode speed and concurrent serving on one NVIDIA GPU, Quantdesk against
# llama.cpp's own tools built from the same source, as one command:
#
#   benchmarks/gpu/serve_bench.sh [OUT_DIR]        (default OUT_DIR: $OUT, else ./serve-bench)
#
# 1. builds llama.cpp once from the llama-cpp-python sdist, with CUDA and shared libraries:
#    llama-bench, llama-server, and the libraries that the sdist's own Python package (copied
#    into SITE) then loads, so both sides run the very same binaries;
# 2. writes a Llama-3-8B-shaped random checkpoint and converts it to F16, Q8_0 and Q4_K_M;
# 3. single-stream decode speed, benchmarks/decode_speed.py (tg128: llama-bench, the plain
#    eval loop, Llama.generate, the worker, its decode loop alone in both orders; three
#    replies a round for the worker and loop paths, whose single replies spread by up to
#    1.5%) for each level of DECODE_LEVELS; then
#    benchmarks/decode_jitter.py (the spread of the time between tokens, and where in a reply
#    the long ones are) for each level of JITTER_LEVELS;
# 4. the importance matrix on the GPU (benchmarks/imatrix_parity.py on F16, all layers
#    offloaded): parity of the sums with llama-imatrix, both wall times, and the cost of
#    collecting against a plain evaluation of the same chunks (a failure here is logged and
#    the run goes on);
# 5. benchmarks/serve_load.py at 16 and 4 clients against quantdesk serve and llama-server
#    with --parallel 16 and 4, then benchmarks/batch_steps.py (the decode loop of 16 replies
#    without HTTP, against bare batched decoding and llama-batched-bench).
# Results (Markdown tables, JSON, logs) land in OUT_DIR, and in OUT_DIR.tar.gz at the end.
# Environment, with defaults:
#   GPU_DIR=<repo>/.gpu   llama_cpp_python-*.tar.gz, fixtures/llama-bpe (the tokenizer), and
#                         whl/ with the pure-Python wheels the machine may lack
#   SDIST=<GPU_DIR/llama_cpp_python-*.tar.gz>  TOKENIZER=<GPU_DIR/fixtures/llama-bpe>
#   SITE=/tmp/site  WORK=/tmp/serve-bench (models, builds)  PYTHON=python3  CUDA_ARCH=90
#   SHAPE=llama3-8b (tiny: a rehearsal)  CUDA=on (off: a CPU build)  GPU_LAYERS=-1
#   SKIP_BUILD=1 reuses SITE and the tools in WORK/build.
#   BUILD_TARGETS="llama mtmd llama-bench ...": what to build (default: what every step needs;
#                         the decode step alone needs llama, mtmd and llama-bench).
#   STEPS="decode jitter imatrix serving": the steps after the conversion to run, in that order.
#   DECODE_LEVELS="Q4_K_M:5 Q8_0:5 F16:5": the levels the decode step measures, with rounds
#                         (LEVEL:ROUNDS:THREADS measures with that many CPU threads).
#   JITTER_LEVELS="Q4_K_M Q8_0": the levels the jitter step measures.
#   IMATRIX_REPEATS=2: how many times the imatrix step times each way of evaluating.
#   QUANTS=Q8_0,Q4_K_M: the levels made besides F16 (the steps need those they measure).
#   DECODE_ARGS: more decode_speed arguments, as shell words
#                         (DECODE_ARGS="--path worker --path 'worker, fresh' --no-phases").
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
shape=${SHAPE:-llama3-8b}
cuda=${CUDA:-on}
gpu_layers=${GPU_LAYERS:--1}
jobs=$(nproc)
mkdir -p "$out" "$work" "$site"
if [ ! -f "$tokenizer/tokenizer.json" ] && [ -f "$tokenizer/tokenizer.json.gz" ]; then
    # A compressed copy of the fixture: unpacked into the work folder, not in place.
    if [ ! -f "$work/tokenizer/tokenizer.json" ]; then
        mkdir -p "$work/tokenizer"
        cp "$tokenizer"/* "$work/tokenizer/"
        gunzip -f "$work/tokenizer/tokenizer.json.gz"
    fi
    tokenizer=$work/tokenizer
fi
stamp() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/serve_bench.log"; }
# The archive is written however the run ends, so whoever waits for it stops waiting.
finish() {
    status=$?
    [ "$status" -eq 0 ] || stamp "stopped with exit status $status (see the logs beside this one)"
    tar czf "$out.tar.gz" -C "$(dirname "$out")" "$(basename "$out")"
}
trap finish EXIT

# Checked before the build, so a missing package fails in seconds, not after it. Without a
# network, the wheels come from GPU_DIR/whl
# (pip download diskcache starlette uvicorn gguf platformdirs httpcore2 httpx2 truststore
# huggingface_hub -d .gpu/whl).
missing=""
for module in diskcache starlette uvicorn gguf platformdirs httpcore2 httpx2 truststore huggingface_hub; do
    "$python" -c "import $module" 2> /dev/null || missing="$missing $module"
done
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    "$python" -m pip install --quiet --no-deps --no-index --find-links "$gpu_dir/whl" --target "$site" $missing \
        || { echo "missing Python packages:$missing (put their wheels in $gpu_dir/whl)"; exit 2; }
fi

export PYTHONPATH="$site:$repo${PYTHONPATH:+:$PYTHONPATH}"
# The libraries find each other through the build folder's path; libraries brought from
# another machine (SKIP_BUILD=1 with a copied SITE) need their own folder on the search path.
export LD_LIBRARY_PATH="$site/llama_cpp/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd "$repo"
# Every command this script runs is imported once here (llama_cpp aside, which the build
# provides), so a module the machine lacks stops the run now rather than after the build.
"$python" -m desktop.cli convert --help > /dev/null
"$python" -m desktop.cli serve --help > /dev/null
"$python" -c "import numpy, psutil"  # what the benchmark scripts add
models=$work/models
# The random checkpoint is written while llama.cpp builds: neither needs the other.
writer=""
if [ ! -f "$models/$shape-Q4_K_M.gguf" ] && [ ! -d "$work/checkpoint" ]; then
    stamp "writing the $shape-shaped checkpoint (alongside the build)"
    "$python" -m benchmarks.gpu.synthetic_llama "$shape" "$work/checkpoint.partial" "$tokenizer" \
        >> "$out/convert.log" 2>&1 && mv "$work/checkpoint.partial" "$work/checkpoint" &
    writer=$!
fi

if [ -z "${SKIP_BUILD:-}" ]; then
    [ -f "$sdist" ] || { echo "no llama-cpp-python sdist (set SDIST or put it in $gpu_dir)"; exit 2; }
    stamp "building llama.cpp (CUDA=$cuda): shared libraries and its tools"
    rm -rf "$work/src" && mkdir -p "$work/src" && tar xzf "$sdist" -C "$work/src"
    pkg=$(echo "$work"/src/llama_cpp_python-*)
    cmake -S "$pkg/vendor/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=ON -DGGML_CUDA="$cuda" -DCMAKE_CUDA_ARCHITECTURES="$arch" \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >> "$out/build.log" 2>&1
    # shellcheck disable=SC2086
    cmake --build "$work/build" -j "$jobs" --target ${BUILD_TARGETS:-llama mtmd llama-bench \
        llama-server llama-imatrix llama-quantize llama-batched-bench} \
        >> "$out/build.log" 2>&1
    # The sdist's own Python package, loading the libraries just built.
    rm -rf "$site/llama_cpp" && cp -r "$pkg/llama_cpp" "$site/llama_cpp"
    mkdir -p "$site/llama_cpp/lib"
    find "$work/build" -name "*.so*" \( -type f -o -type l \) -exec cp -P {} "$site/llama_cpp/lib/" \;
    stamp "built: $(ls "$site/llama_cpp/lib" | tr '\n' ' ')"
fi
bench=$work/build/bin/llama-bench
server=$work/build/bin/llama-server
"$python" -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, 'GPU offload:', llama_cpp.llama_supports_gpu_offload())" \
    | tee -a "$out/serve_bench.log"

if [ -n "$writer" ]; then wait "$writer"; fi
if [ ! -f "$models/$shape-Q4_K_M.gguf" ]; then
    stamp "converting the $shape-shaped checkpoint"
    "$python" -m desktop.cli convert "$work/checkpoint" --out "$models" --outtype f16 \
        --quant "${QUANTS:-Q8_0,Q4_K_M}" >> "$out/convert.log" 2>&1
    for f in "$models"/*.gguf; do
        case "$f" in
            *"$shape"-*) ;;
            *Q4_K_M*) mv "$f" "$models/$shape-Q4_K_M.gguf" ;;
            *Q8_0*) mv "$f" "$models/$shape-Q8_0.gguf" ;;
            *) mv "$f" "$models/$shape-F16.gguf" ;;
        esac
    done
    rm -rf "$work/checkpoint"
    stamp "models: $(ls -s --block-size=M "$models" | tr '\n' ' ')"
fi

decode() {  # LEVEL ROUNDS [THREADS]
    local threads=() suffix="" extra=()
    if [ -n "${3:-}" ]; then threads=(--threads "$3"); suffix="-t$3"; fi
    eval "extra=(${DECODE_ARGS:-})"
    stamp "single stream, $1 ${3:+($3 threads)}"
    "$python" -m benchmarks.decode_speed "$models/$shape-$1.gguf" --gpu-layers "$gpu_layers" \
        --llama-bench "$bench" --rounds "$2" --replies 3 "${threads[@]}" "${extra[@]}" --json "$out/decode-$1$suffix.json" \
        | tee "$out/decode-$1$suffix.md"
}

steps=" ${STEPS:-decode jitter imatrix serving} "
if [[ $steps == *" decode "* ]]; then
    for spec in ${DECODE_LEVELS:-Q4_K_M:5 Q8_0:5 F16:5}; do
        IFS=: read -r level rounds threads <<< "$spec"
        decode "$level" "$rounds" "$threads"
    done
fi
if [[ $steps == *" jitter "* ]]; then
    for level in ${JITTER_LEVELS:-Q4_K_M Q8_0}; do
        stamp "time between tokens, $level"
        "$python" -m benchmarks.decode_jitter "$models/$shape-$level.gguf" \
            --gpu-layers "$gpu_layers" --json "$out/jitter-$level.json" | tee "$out/jitter-$level.md"
    done
fi
if [[ $steps == *" imatrix "* ]]; then
    stamp "importance matrix, F16, $gpu_layers GPU layers"
    # A crash inside llama.cpp kills the collecting child: its Python stack goes to the log.
    export PYTHONFAULTHANDLER=1
    "$python" -m benchmarks.imatrix_parity "$work/build/bin" "$models/$shape-F16.gguf" \
        "$repo/resources/calibration/federalist_papers.txt" "$work/imatrix" --chunks 4 \
        --levels "" --repeats "${IMATRIX_REPEATS:-2}" --threads "$jobs" --gpu-layers "$gpu_layers" 2>&1 \
        | tee "$out/imatrix.md" || stamp "the importance-matrix step failed (its output: imatrix.md)"
fi
if [[ $steps != *" serving "* ]]; then
    stamp "done: results in $out"
    exit 0
fi
for parallel in 16 4; do
    stamp "serving, Q4_K_M, --parallel $parallel"
    "$python" -m benchmarks.serve_load "$models/$shape-Q4_K_M.gguf" --gpu-layers "$gpu_layers" \
        --llama-server "$server" --parallel "$parallel" --clients "$parallel" --tokens 128 \
        --ctx 2048 --log-dir "$out" --json "$out/serve-parallel$parallel.json" \
        | tee "$out/serve-parallel$parallel.md"
done
stamp "continuous batching without HTTP, Q4_K_M, 16 replies"
"$python" -m benchmarks.batch_steps "$models/$shape-Q4_K_M.gguf" --gpu-layers "$gpu_layers" \
    --slots 16 --tokens 128 --rounds 1 --llama-batched-bench "$work/build/bin/llama-batched-bench" \
    --json "$out/batch-steps16.json" --profile "$out/batch-steps16-profile.txt" \
    | tee "$out/batch-steps16.md"
stamp "done: results in $out"
