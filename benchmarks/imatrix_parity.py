"""Importance matrix: parity with llama.cpp's own tools, and the cost of collecting it.

1. The same model, text and context through ``llama-imatrix`` and through Quantdesk: the
   weights, counts and chunk count must agree, and the sums within float rounding (the
   largest relative difference over all columns of all weights is printed).
2. A level quantized by Quantdesk with Quantdesk's matrix file must be byte-identical to
   ``llama-quantize --imatrix`` with the same file (same name recorded, so run from the
   file's folder).
3. Cost: the chunks evaluated with the collecting callback and without it, alternately,
   in the same kind of child process; the ratio of the medians is printed. With layers on a
   GPU, a third way runs too: the callback copying every input to host memory and summing it
   there (how it worked before it summed a device's inputs on the device).

usage: python benchmarks/imatrix_parity.py TOOLS_BIN MODEL-F16.gguf TEXT WORK_DIR
       [--chunks N] [--levels Q2_K,IQ3_XXS] [--repeats N] [--gpu-layers N]
``--levels ""`` skips step 2; ``--gpu-layers`` runs steps 1 and 3 with that many layers on the
GPU (both sides), and prints llama-imatrix's own wall time beside Quantdesk's.
TOOLS_BIN holds llama-imatrix and llama-quantize (benchmarks/build_llama_tools.sh OUT builds
them; with llama-cpp-python 0.3.36's llama.cpp they land in OUT/build/bin).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from converter.imatrix_file import read_imatrix, write_imatrix
from converter.progress import run_job
from converter.quantize import Calibration, quantize_gguf
from desktop.engine.calibration_text import load_calibration_text
from desktop.engine.imatrix_backend_sums import SumsWhere
from desktop.engine.imatrix_collector import (
    CollectSettings,
    collect_in_child,
    to_importance_matrix,
)
from desktop.engine.measure.child_job import child_job

CTX = 512


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tools", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("text", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--levels", default="Q2_K,IQ3_XXS")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gpu-layers", type=int, default=0)
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    text = load_calibration_text(args.text)

    # 1. matrices
    reference = work / "llama.imatrix.gguf"
    started = time.perf_counter()
    subprocess.run(
        [str(args.tools / "llama-imatrix"), "-m", str(args.model), "-f", str(args.text),
         "-o", str(reference), "-c", str(CTX), "-b", str(CTX), "--chunks", str(args.chunks),
         "-t", str(args.threads), "-ngl", str(args.gpu_layers), "--no-ppl"],
        check=True, capture_output=True,
    )  # fmt: skip
    llama_wall = time.perf_counter() - started
    settings = CollectSettings(CTX, args.chunks, args.threads, True, args.gpu_layers)
    started = time.perf_counter()
    collected = run_job(child_job(collect_in_child, str(args.model), text.text, settings,
                                  what="collect"))  # fmt: skip
    ours_wall = time.perf_counter() - started
    print(f"wall time, load and {args.chunks} chunks of {CTX} tokens, {args.gpu_layers} GPU "
          f"layers: llama-imatrix {llama_wall:.2f} s, Quantdesk {ours_wall:.2f} s "
          f"(its evaluation alone {collected.eval_seconds:.2f} s; inputs summed where they "
          f"lie, on their backend: {collected.backend_summed})")  # fmt: skip
    ours = to_importance_matrix(collected, dataset=text.name, chunk_size=CTX)
    ours_file = write_imatrix(ours, work / "quantdesk.imatrix.gguf")
    theirs = read_imatrix(reference)
    assert sorted(theirs.entries) == sorted(ours.entries), "different weights"
    worst, worst_name = 0.0, ""
    for name, entry in theirs.entries.items():
        mine = ours.entries[name]
        assert np.array_equal(mine.counts, entry.counts), name
        relative = np.abs(mine.sums - entry.sums) / np.maximum(np.abs(entry.sums), 1e-30)
        if float(relative.max()) > worst:
            worst, worst_name = float(relative.max()), name
    tokens = int(next(iter(ours.entries.values())).counts[0])
    print(f"weights: {len(ours.entries)}, chunks: {ours.chunk_count} vs {theirs.chunk_count}, "
          f"tokens counted per weight: {tokens}")  # fmt: skip
    print(f"max relative difference of the sums: {worst:.3g} ({worst_name})")

    # 2. quantized files
    matrix = read_imatrix(ours_file)
    for level in filter(None, args.levels.split(",")):
        by_llama = work / f"llama-{level}.gguf"
        subprocess.run(
            [str(args.tools / "llama-quantize"), "--imatrix", ours_file.name,
             str(args.model), str(by_llama), level, str(args.threads)],
            check=True, capture_output=True, cwd=work,
        )  # fmt: skip
        calibration = Calibration(matrix, ours_file.name)
        job = quantize_gguf(args.model, level, out_path=work / f"qd-{level}.gguf",
                            threads=args.threads, calibration=calibration)  # fmt: skip
        written = run_job(job)
        same = _sha256(by_llama) == _sha256(written.path)
        print(f"{level}: {written.size_bytes} bytes, byte-identical to llama-quantize: {same}")

    # 3. cost
    modes: dict[str, tuple[bool, SumsWhere]] = {
        "plain": (False, SumsWhere.DEVICE_INPUTS_ON_DEVICE),
        "collecting": (True, SumsWhere.DEVICE_INPUTS_ON_DEVICE),
    }
    if args.gpu_layers != 0:  # the old way on a GPU: every input copied to the host
        modes["collecting, inputs copied to the host"] = (True, SumsWhere.HOST)
    timings: dict[str, list[float]] = {mode: [] for mode in modes}
    inside: dict[str, list[float]] = {mode: [] for mode in modes}
    on_backend: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.repeats):
        for mode, (collect, where) in modes.items():
            timed = CollectSettings(CTX, args.chunks, args.threads, collect, args.gpu_layers, where)
            stats = run_job(child_job(collect_in_child, str(args.model), text.text, timed,
                                      what="time"))  # fmt: skip
            timings[mode].append(stats.eval_seconds)
            inside[mode].append(stats.callback_seconds)
            on_backend[mode].append(stats.backend_seconds)
    plain_s = statistics.median(timings["plain"])
    print(
        f"evaluation of {args.chunks} x {CTX} tokens (median of {args.repeats}; runs: {timings}):"
    )
    for mode in modes:
        mode_s, inside_s = statistics.median(timings[mode]), statistics.median(inside[mode])
        device_s = statistics.median(on_backend[mode])
        print(f"  {mode}: {mode_s:.2f} s, {mode_s / plain_s:.3f}x plain; inside the callback "
              f"{inside_s:.3f} s = {inside_s / plain_s:.3f} of a plain evaluation, of which "
              f"computing sums on the device and reading them {device_s:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
