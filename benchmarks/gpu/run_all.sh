#!/usr/bin/env bash
# The GPU offload benchmark as one unattended background pipeline, followed in short calls.
#
#   run_all.sh start                      install the wheels, launch the pipeline (setsid)
#   run_all.sh wait SECONDS [OUT_DIR]     print the log lines not shown yet until the pipeline
#                                         ends or SECONDS pass, then copy the results and the
#                                         log to OUT_DIR (default: $OUT_DIR, else $OUT)
#   run_all.sh status                     say whether it is running, done or not started
#
# The pipeline: build llama-cpp-python with CUDA (skipped when GPU_DIR/whl already holds a
# llama_cpp_python wheel, or SKIP_BUILD=1), run benchmarks/gpu/offload_bench.py, then the
# gpu-marked tests. Environment, with defaults:
#   GPU_DIR=<repo>/.gpu     whl/*.whl, llama_cpp_python-*.tar.gz, fixtures/llama-bpe
#   SITE=/tmp/site          where the wheels are installed (put on PYTHONPATH)
#   STATE=/tmp/offload-bench  log, results, and the models when RAM has no room for them
#   WORK                    the models' folder: /dev/shm/offload-bench when it has 40 GB free
#   PYTHON=python3, SDIST=<GPU_DIR/llama_cpp_python-*.tar.gz>, TOKENIZER=GPU_DIR/fixtures/llama-bpe
#   BENCH_ARGS              more offload_bench.py arguments ("--budget-minutes 12" ...)
# A CPU rehearsal: SKIP_BUILD=1 BENCH_ARGS="--shape tiny --cpu-ok" run_all.sh start
set -euo pipefail
script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo=$(cd "$(dirname "$script")/../.." && pwd)
gpu_dir=${GPU_DIR:-$repo/.gpu}
site=${SITE:-/tmp/site}
state=${STATE:-/tmp/offload-bench}
python=${PYTHON:-python3}
log=$state/pipeline.log
results=$state/results

stamp() { echo "[$(date +%H:%M:%S)] $*"; }

# The models go to RAM (/dev/shm) when it has room for the checkpoint and the F16 model at
# once (about 32 GB for the 8B shape): no disk limit, no disk speed limit. Else to STATE.
work_dir() {
    if [ -n "${WORK:-}" ]; then echo "$WORK"; return; fi
    local shm_free
    shm_free=$(df --output=avail -B1 /dev/shm 2> /dev/null | tail -n 1 | tr -d ' ' || true)
    if [ "${shm_free:-0}" -gt $((40 * 1024 * 1024 * 1024)) ] 2> /dev/null; then
        echo /dev/shm/offload-bench
    else
        echo "$state/work"
    fi
}

pipeline() {
    trap 'touch "$state/done"' EXIT
    export PYTHONPATH="$repo:$site${PYTHONPATH:+:$PYTHONPATH}"
    cd "$repo"
    local build_args
    if [ -n "${SKIP_BUILD:-}" ] || compgen -G "$gpu_dir/whl/llama_cpp_python-*.whl" > /dev/null; then
        stamp "using the llama-cpp-python already installed or brought as a wheel: no build"
        build_args=(--skip-build)
    else
        local sdist=${SDIST:-$(compgen -G "$gpu_dir/llama_cpp_python-*.tar.gz" | head -n 1)}
        build_args=(--sdist "$sdist" --site "$site")
    fi
    local work
    work=$(work_dir)
    stamp "offload benchmark starts; models in $work ($(df -h --output=avail "$(dirname "$work")" | tail -n 1) free)"
    # shellcheck disable=SC2086  # BENCH_ARGS is a list of words on purpose
    "$python" -m benchmarks.gpu.offload_bench --tokenizer "${TOKENIZER:-$gpu_dir/fixtures/llama-bpe}" \
        --results "$results" --work "$work" "${build_args[@]}" ${BENCH_ARGS:-} \
        && echo 0 > "$state/bench.rc" || echo $? > "$state/bench.rc"
    stamp "offload benchmark ended (exit $(cat "$state/bench.rc"))"
    mkdir -p "$results"
    if "$python" -c "import pytest" 2> /dev/null; then
        stamp "gpu tests start"
        "$python" -m pytest tests/engine/test_gpu_offload.py -v -p no:cacheprovider \
            > "$results/pytest.log" 2>&1 && echo 0 > "$state/pytest.rc" || echo $? > "$state/pytest.rc"
        tail -n 15 "$results/pytest.log"
        stamp "gpu tests ended (exit $(cat "$state/pytest.rc"))"
    else
        echo "pytest is not importable here: the gpu tests were not run" | tee "$results/pytest.log"
    fi
    stamp "pipeline done"
}

start() {
    if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2> /dev/null && [ ! -f "$state/done" ]; then
        echo "already running (pid $(cat "$state/pid")); use: $0 wait SECONDS"
        return 0
    fi
    mkdir -p "$state" "$site"
    if compgen -G "$gpu_dir/whl/*.whl" > /dev/null; then
        "$python" -m pip install --quiet --no-index --no-deps --upgrade --target "$site" "$gpu_dir"/whl/*.whl
    fi
    rm -f "$state/done" "$state/shown" "$state/bench.rc" "$state/pytest.rc"
    setsid nohup bash "$script" _pipeline > "$log" 2>&1 < /dev/null &
    echo $! > "$state/pid"
    echo "started (pid $!); log: $log; results: $results"
}

follow() {
    local seconds=$1 out=${2:-${OUT_DIR:-${OUT:-}}}
    local deadline=$(($(date +%s) + seconds))
    local shown
    shown=$(cat "$state/shown" 2> /dev/null || echo 0)
    while :; do
        if [ -f "$log" ]; then
            local lines
            lines=$(wc -l < "$log")
            if [ "$lines" -gt "$shown" ]; then
                sed -n "$((shown + 1)),${lines}p" "$log"
                shown=$lines
                echo "$shown" > "$state/shown"
            fi
        fi
        if [ -f "$state/done" ] || [ "$(date +%s)" -ge "$deadline" ]; then break; fi
        sleep 5
    done
    if [ -n "$out" ]; then
        mkdir -p "$out"
        [ -d "$results" ] && cp -r "$results/." "$out/"
        [ -f "$log" ] && cp "$log" "$out/pipeline.log"
    fi
    status
}

status() {
    if [ -f "$state/done" ]; then
        echo "PIPELINE DONE: benchmark exit $(cat "$state/bench.rc" 2> /dev/null || echo '?'), tests exit $(cat "$state/pytest.rc" 2> /dev/null || echo '?')"
    elif [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2> /dev/null; then
        echo "STILL RUNNING (pid $(cat "$state/pid"))"
    else
        echo "NOT RUNNING (not started, or ended without finishing)"
    fi
}

case "${1:-}" in
    start) start ;;
    wait) follow "${2:?wait needs SECONDS}" "${3:-}" ;;
    status) status ;;
    _pipeline) pipeline ;;
    *) sed -n '2,21p' "$script"; exit 2 ;;
esac
