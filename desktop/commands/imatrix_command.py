"""``quantdesk imatrix``: collect a model's importance matrix on a calibration text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from converter.imatrix_file import write_imatrix
from converter.progress import Progress, run_job
from desktop.commands.model_argument import MODEL_HELP, find_model
from desktop.commands.quantize_command import _positive_int
from desktop.commands.terminal_progress import TerminalProgress
from desktop.engine.calibration_text import load_calibration_text
from desktop.engine.imatrix_collector import DEFAULT_CTX_TOKENS, collect_imatrix
from desktop.services.conversion_pipeline import imatrix_path_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help=f"the model, F16 at best: {MODEL_HELP}")
    parser.add_argument(
        "--text",
        type=Path,
        metavar="FILE|DIR",
        help="UTF-8 text, or a folder of .txt/.md files (default: the bundled calibration text)",
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write the matrix (default: MODEL.imatrix.gguf beside the model)",
    )
    parser.add_argument(
        "--ctx",
        type=_positive_int,
        default=DEFAULT_CTX_TOKENS,
        metavar="N",
        help=f"tokens per chunk (default: {DEFAULT_CTX_TOKENS}, as llama-imatrix)",
    )
    parser.add_argument("--chunks", type=_positive_int, metavar="N", help="use at most N chunks")
    parser.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="CPU threads (default: one per physical core)",
    )
    parser.add_argument(
        "--gpu-layers",
        type=int,
        metavar="N",
        help=(
            "layers to run on the GPU (default: as many as fit, none without a GPU; "
            "0: the CPU only; -1: all)"
        ),
    )


def run(args: argparse.Namespace) -> int:
    args.model = find_model(args.model)
    text = load_calibration_text(args.text)
    out = args.out or imatrix_path_for(args.model)
    progress = TerminalProgress(sys.stderr)

    def show(event: Progress) -> None:
        progress.show(event)
        if event.done == 1 and not sys.stderr.isatty():  # the estimate, once it is known
            progress.line(f"{event.stage}: {event.message}")

    job = collect_imatrix(
        args.model,
        text,
        ctx_tokens=args.ctx,
        max_chunks=args.chunks,
        threads=args.threads,
        gpu_layers=args.gpu_layers,
    )
    try:
        matrix = run_job(job, show)
    finally:
        progress.close()
    write_imatrix(matrix, out)
    print(
        f"{len(matrix.entries)} weights, {matrix.chunk_count} chunks of {matrix.chunk_size} "
        f"tokens from {text.name}: {out}"
    )
    return 0
