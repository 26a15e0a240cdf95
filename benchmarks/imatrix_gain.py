"""What calibration buys: KL divergence and same-top of calibrated vs uncalibrated levels.

The importance matrix is collected on the bundled calibration text (The Federalist Papers);
quality is measured on the bundled evaluation text (The Time Machine), which the matrix
never saw. Every level is made twice from the same F16, without and with the matrix (IQ
levels only with it), and all are measured against the F16 in one comparison, so the
error bars (standard error of the mean over scored positions) are comparable.

``--plain-levels`` adds levels measured uncalibrated only, in the same comparison: the steps of
a K-quant ladder, to set the error bars of the default amount of text against them.

usage: python benchmarks/imatrix_gain.py MODEL-F16.gguf WORK_DIR
       [--levels Q2_K,Q3_K_S,Q3_K_M,IQ2_M,...] [--plain-levels Q4_K_M,Q5_K_M,...]
       [--calib-chunks N] [--eval-chunks N] [--ctx N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from converter.imatrix_file import write_imatrix
from converter.levels import level
from converter.progress import run_job
from converter.quantize import Calibration, quantize_gguf
from desktop.engine.calibration_text import load_calibration_text
from desktop.engine.imatrix_collector import collect_imatrix
from desktop.engine.measure.quality import measure_quality

DEFAULT_LEVELS = "Q2_K,Q3_K_S,Q3_K_M,IQ2_XXS,IQ2_M,IQ3_XXS,IQ3_M,IQ4_XS"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--levels", default=DEFAULT_LEVELS)
    parser.add_argument("--plain-levels", default="")
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--calib-chunks", type=int, default=16)
    parser.add_argument("--eval-chunks", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    matrix = run_job(
        collect_imatrix(args.model, load_calibration_text(), ctx_tokens=args.ctx,
                        max_chunks=args.calib_chunks, threads=args.threads)
    )  # fmt: skip
    matrix_file = write_imatrix(matrix, args.work / "model.imatrix.gguf")
    seconds = time.perf_counter() - started
    print(f"matrix: {matrix.chunk_count} chunks of {args.ctx} tokens in {seconds:.0f} s")
    calibration = Calibration(matrix, matrix_file.name)

    candidates: list[tuple[str, Path]] = []
    for name in args.levels.split(","):
        lv = level(name)
        if not lv.needs_imatrix:
            plain = run_job(quantize_gguf(args.model, lv, out_path=args.work, threads=args.threads))
            candidates.append((f"{name}", plain.path))
        job = quantize_gguf(
            args.model, lv, out_path=args.work, threads=args.threads, calibration=calibration
        )
        calibrated = run_job(job)
        candidates.append((f"{name} calibrated", calibrated.path))
    for name in filter(None, args.plain_levels.split(",")):
        plain = run_job(quantize_gguf(args.model, level(name), out_path=args.work,
                                      threads=args.threads))  # fmt: skip
        candidates.append((name, plain.path))
    print(f"{len(candidates)} files quantized after {time.perf_counter() - started:.0f} s")

    comparison = run_job(
        measure_quality(args.model, [path for _, path in candidates], ctx_tokens=args.ctx,
                        max_chunks=args.eval_chunks, threads=args.threads)
    )  # fmt: skip
    print(f"{comparison.reference.positions} scored positions of the evaluation text, "
          f"ctx {args.ctx}")  # fmt: skip
    print(f"all done after {time.perf_counter() - started:.0f} s")
    reference = comparison.reference
    print("| level | size MiB | mean KLD | same top | perplexity |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| F16 (reference) | {args.model.stat().st_size / 2**20:.1f} | | | "
          f"{reference.perplexity:.3f} ± {reference.perplexity_error:.3f} |")  # fmt: skip
    for (label, path), result in zip(candidates, comparison.candidates, strict=True):
        print(f"| {label} | {path.stat().st_size / 2**20:.1f} | "
              f"{result.mean_kl:.4f} ± {result.kl_error:.4f} | "
              f"{100 * result.same_top:.1f} ± {100 * result.same_top_error:.1f} % | "
              f"{result.perplexity:.3f} ± {result.perplexity_error:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
