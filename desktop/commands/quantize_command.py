"""``quantdesk quantize``: quantize a full-precision GGUF to one or more levels."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from converter.levels import LEVELS
from converter.progress import Progress, run_job
from converter.quantize import quantize_ladder

_BAR_WIDTH = 24


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL.gguf", help="an F16, BF16 or F32 GGUF")
    parser.add_argument(
        "--level",
        required=True,
        metavar="LEVEL[,LEVEL...]",
        help=f"levels to produce, comma-separated: {', '.join(lv.name for lv in LEVELS)}",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: beside the model)"
    )
    parser.add_argument(
        "--threads", type=_positive_int, metavar="N", help="CPU threads (default: all)"
    )
    parser.add_argument("--json", action="store_true", help="print the written files as JSON")


def run(args: argparse.Namespace) -> int:
    levels = [part for part in args.level.split(",") if part.strip()]
    progress = ProgressLine(sys.stderr)
    job = quantize_ladder(args.model, levels, out_dir=args.out, threads=args.threads)
    try:
        written = run_job(job, progress.show)
    finally:
        progress.close()
    if args.json:
        print(json.dumps([file.to_json() for file in written], indent=2))
    else:
        for file in written:
            print(f"{file.level:<7} {file.size_bytes / 2**20:10.1f} MiB  {file.path}")
    return 0


class ProgressLine:
    """One redrawn line on a terminal; on a pipe or log, one line as each level starts."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._redraw = stream.isatty()
        self._drawn = False
        self._stage = ""

    def show(self, event: Progress) -> None:
        if self._redraw:
            filled = int(_BAR_WIDTH * (event.fraction or 0.0))
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            line = f"{event.stage:<16} [{bar}] {event.done}/{event.total} {event.message}"
            self._stream.write("\r" + line[:119].ljust(119))
            self._drawn = True
        elif event.stage != self._stage:
            self._stream.write(f"{event.stage}: {event.message}\n")
        self._stage = event.stage
        self._stream.flush()

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
