"""``quantdesk convert``: a Hugging Face checkpoint folder → GGUF, then optional quantizations."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from converter.convert import OUTTYPES
from converter.errors import QuantdeskError
from converter.hub.fetch import resolve_source, source_name
from converter.levels import LEVELS, parse_levels
from converter.progress import CancelToken, run_job
from converter.quantize import resolve_level
from converter.written import WrittenFile
from desktop.commands.quantize_command import add_calibration_arguments, calibration_choice
from desktop.commands.terminal_progress import TerminalProgress
from desktop.services.conversion_pipeline import StepProgress, convert_and_quantize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="a local Hugging Face checkpoint folder, or a hub model name ORGANISATION/NAME",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--outtype",
        choices=tuple(OUTTYPES),
        help="full-precision type (default: bf16 for bfloat16 checkpoints, else f16)",
    )
    parser.add_argument(
        "--quant",
        metavar="LEVEL[,LEVEL...]",
        help=f"also quantize to these levels: {', '.join(lv.name for lv in LEVELS)} "
        "(IQ levels too with --imatrix)",
    )
    add_calibration_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the written files as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        levels = parse_levels(args.quant) if args.quant else ()
    except ValueError as exc:
        raise QuantdeskError(str(exc)) from None
    # refusals that need no conversion come first: --text without --imatrix, IQ without it
    if calibration_choice(args) is None and any(lv.needs_imatrix for lv in levels):
        resolve_level(next(lv for lv in levels if lv.needs_imatrix))
    progress = TerminalProgress(sys.stderr) if not args.json else None
    on_progress = progress.show if progress is not None else None

    def on_step(event: StepProgress) -> None:
        if progress is not None:
            progress.show(event.progress)

    written: list[WrittenFile] = []
    try:
        name = source_name(args.source)  # a hub model is named after NAME, not its cache
        source = resolve_source(args.source, on_progress=on_progress)
        # The wizard's own orchestration: conversion in a child process, calibration, then
        # each level, with the space for all levels checked before the first.
        job = convert_and_quantize(
            source, args.out, [lv.name for lv in levels], cancel=CancelToken(), name=name,
            outtype=args.outtype, calibration=calibration_choice(args),
        )  # fmt: skip
        written += run_job(job, on_step).written
    finally:
        if progress is not None:
            progress.close()
    if args.json:
        print(json.dumps({"files": [file.to_json() for file in written]}, indent=2))
    else:
        for file in written:
            print(f"{file.level:<7} {file.size_bytes / 2**20:10.1f} MiB  {file.path}")
    return 0
