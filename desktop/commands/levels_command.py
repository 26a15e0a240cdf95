"""``quantdesk levels``: the catalogue, as a table or JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json

from converter.levels import SOURCE_LEVELS, quantized_levels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    levels = SOURCE_LEVELS[:2] + quantized_levels(with_imatrix=True)
    if args.json:
        print(json.dumps([dataclasses.asdict(lv) for lv in levels], indent=2))
        return 0
    print(f"{'level':<8} {'bits/weight':>11} {'8B size':>8} {'+ppl':>7}  description")
    for lv in levels:
        delta = lv.llama3_8b_ppl_delta
        print(
            f"{lv.name:<8} {lv.bits_per_weight:>11.2f} {lv.llama3_8b_gb:>6.2f}GB"
            f" {'n/a' if delta is None else format(delta, '+.4f'):>7}  {lv.description}"
        )
    print("Figures: llama.cpp's quantize tool (Llama-3-8B sizes and perplexity increase);")
    print("IQ levels: its README's Llama-3.1-8B table (no perplexity published); they need")
    print("an importance matrix (quantize --imatrix).")
    return 0
