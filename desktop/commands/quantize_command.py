"""``quantdesk quantize``: quantize a full-precision GGUF to one or more levels."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from converter.errors import QuantdeskError
from converter.levels import IMATRIX_LEVELS, LEVELS
from converter.progress import Progress, run_job
from converter.quantize import Calibration, quantize_ladder
from desktop.commands.model_argument import MODEL_HELP, find_model
from desktop.commands.terminal_progress import TerminalProgress
from desktop.services.conversion_pipeline import (
    CalibrationChoice,
    CalibrationKind,
    prepare_calibration,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help=f"an F16, BF16 or F32 model: {MODEL_HELP}")
    parser.add_argument(
        "--level",
        required=True,
        metavar="LEVEL[,LEVEL...]",
        help=f"levels to produce, comma-separated: {', '.join(lv.name for lv in LEVELS)}; "
        f"with --imatrix also {', '.join(lv.name for lv in IMATRIX_LEVELS)}",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: beside the model)"
    )
    add_calibration_arguments(parser)
    parser.add_argument(
        "--threads", type=_positive_int, metavar="N", help="CPU threads (default: all)"
    )
    parser.add_argument("--json", action="store_true", help="print the written files as JSON")


def run(args: argparse.Namespace) -> int:
    args.model = find_model(args.model)
    levels = [part for part in args.level.split(",") if part.strip()]
    progress = TerminalProgress(sys.stderr)
    try:
        calibration = calibrate(args, args.model, progress.show)
        job = quantize_ladder(
            args.model, levels, out_dir=args.out, threads=args.threads, calibration=calibration
        )
        written = run_job(job, progress.show)
    finally:
        progress.close()
    if args.json:
        print(json.dumps([file.to_json() for file in written], indent=2))
    else:
        for file in written:
            print(f"{file.level:<7} {file.size_bytes / 2**20:10.1f} MiB  {file.path}")
    return 0


def add_calibration_arguments(parser: argparse.ArgumentParser) -> None:
    """``--imatrix FILE|auto`` and ``--text``, shared by ``quantize`` and ``convert``."""
    parser.add_argument(
        "--imatrix",
        metavar="FILE|auto",
        help="quantize with an importance matrix: a llama-imatrix .gguf or legacy .dat file, "
        "or 'auto' to collect one from --text (default: the bundled calibration text)",
    )
    parser.add_argument(
        "--text",
        type=Path,
        metavar="FILE|DIR",
        help="the calibration text for --imatrix auto (a UTF-8 file or a folder of them)",
    )


def calibration_choice(args: argparse.Namespace) -> CalibrationChoice | None:
    if args.imatrix is None:
        if args.text is not None:
            raise QuantdeskError("--text is the calibration text of --imatrix auto; add it.")
        return None
    if args.imatrix.strip().lower() == "auto":
        kind: CalibrationKind = "text" if args.text is not None else "bundled"
        return CalibrationChoice(kind, args.text)
    return CalibrationChoice("file", Path(args.imatrix))


def calibrate(
    args: argparse.Namespace, model: Path, on_progress: Callable[[Progress], None] | None
) -> Calibration | None:
    """The calibration the arguments ask for (collected now for ``auto``), or None."""
    choice = calibration_choice(args)
    if choice is None:
        return None
    threads = getattr(args, "threads", None)
    return run_job(prepare_calibration(model, choice, threads=threads), on_progress)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
