"""``quantdesk compare``: size, fit, speed and quality of several levels of one model."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from converter.figures import span_text
from converter.progress import Progress, run_job
from converter.storage import format_bytes
from desktop.commands.model_argument import find_model, library_catalog
from desktop.commands.terminal_progress import TerminalProgress
from desktop.engine.measure.eval_text import DEFAULT_MAX_CHUNKS, load_eval_text
from desktop.engine.measure.level_comparison import (
    LevelMeasurement,
    compare_files,
    plan_comparison,
)
from desktop.engine.measure.measure_options import DEFAULT_SPEED_REPEATS, MeasureOptions
from desktop.services.fit_text import VERDICT_WORDS

_COLUMNS = (
    ("level", 8), ("size", 10), ("bpw", 6), ("fit", 12), ("pp t/s", 10),
    ("tg t/s", 9), ("PPL", 16), ("KL", 20), ("same-top", 15),
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="+", metavar="MODEL",
        help="the full-precision reference first, then the levels to compare with it: .gguf "
        "files or library models' names",
    )  # fmt: skip
    parser.add_argument(
        "--text", type=Path, metavar="FILE",
        help="UTF-8 text to measure quality on (default: the bundled public-domain text)",
    )  # fmt: skip
    parser.add_argument(
        "--ctx", type=_positive_int, default=512, metavar="N",
        help="tokens per evaluation chunk (default 512, as llama.cpp's perplexity tool)",
    )  # fmt: skip
    parser.add_argument(
        "--chunks", type=_chunks, default=DEFAULT_MAX_CHUNKS, metavar="N",
        help=f"evaluate at most N chunks, or 'all' (default {DEFAULT_MAX_CHUNKS}: the KL "
        "divergence's error bar is then smaller than the step between adjacent K-quant levels)",
    )  # fmt: skip
    parser.add_argument(
        "--repeats", type=_positive_int, default=DEFAULT_SPEED_REPEATS, metavar="N",
        help=f"speed runs per file (default {DEFAULT_SPEED_REPEATS})",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=_positive_int, metavar="N",
        help="CPU threads, the same for every file (default: llama.cpp's default)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--no-cache", action="store_true", help="measure again even if results are saved"
    )


def run(args: argparse.Namespace) -> int:
    catalog = library_catalog()
    args.files = [find_model(typed, catalog) for typed in args.files]
    text = load_eval_text(args.text)
    options = MeasureOptions(
        text=text, ctx_tokens=args.ctx, max_chunks=args.chunks, speed_repeats=args.repeats,
        threads=args.threads, use_cache=not args.no_cache,
    )  # fmt: skip
    plan = plan_comparison(args.files[0], args.files[1:], options)
    to_measure = sum(not work.idle for work in plan.work)  # the others' results are saved
    print(
        f"quantdesk: measuring {to_measure} of {len(plan.facts)} files takes about "
        f"{span_text(plan.predicted_seconds)} on this machine.",
        file=sys.stderr,
    )
    job = compare_files(args.files[0], args.files[1:], options)
    progress = TerminalProgress(sys.stderr)
    notes: list[str] = []

    def show(event: Progress) -> None:
        if event.message.startswith("results not cached"):
            notes.append(event.message)
        progress.show(event)

    try:
        rows = run_job(job, show)
    finally:
        progress.close()
    if args.json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        print(format_table(rows))
        print(f"Quality on {text.name}, {args.ctx}-token chunks; speed: pp512 / tg128 style.")
    for note in notes:
        print(f"quantdesk: {note}", file=sys.stderr)
    return 0


def format_table(rows: Sequence[LevelMeasurement]) -> str:
    header = "  ".join(name.rjust(width) for name, width in _COLUMNS)
    lines = [header]
    for row in rows:
        cells = [
            row.level + ("*" if row.is_reference else ""),
            format_bytes(row.facts.size_bytes),
            f"{row.facts.bits_per_weight:.2f}",
            VERDICT_WORDS[row.fit.verdict] if row.fit is not None else "-",
            _rate(row.speed.prompt_tokens_per_s if row.speed else None),
            _rate(row.speed.gen_tokens_per_s if row.speed else None),
            _plus_minus(row.quality.perplexity, row.quality.perplexity_error, "{:.3f}")
            if row.quality
            else "-",
            _plus_minus(row.quality.mean_kl, row.quality.kl_error, "{:.6f}")
            if row.quality
            else "-",
            _plus_minus(100 * row.quality.same_top, 100 * row.quality.same_top_error, "{:.1f}%")
            if row.quality
            else "-",
        ]
        lines.append("  ".join(c.rjust(w) for c, (_, w) in zip(cells, _COLUMNS, strict=True)))
    lines.append("* reference")
    return "\n".join(lines)


def _plus_minus(value: float, error: float, style: str) -> str:
    return f"{style.format(value)} ± {style.format(error)}".replace("% ±", " ±")


def _chunks(text: str) -> int | None:
    return None if text == "all" else _positive_int(text)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
