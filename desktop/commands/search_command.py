"""``quantdesk search QUERY``: text-generation models on the Hugging Face hub."""

from __future__ import annotations

import argparse
import json

from converter.hub.hub_client import ModelSummary, search_models
from converter.storage import format_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help="part of the model name, e.g. 'qwen2.5 gguf' or 'llama-3.2'")
    parser.add_argument("--limit", type=int, default=20, help="how many models to list")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    hits = search_models(args.query, limit=args.limit)
    if args.json:
        print(json.dumps([hit.to_json() for hit in hits], indent=2))
        return 0
    if not hits:
        print(f"No text-generation models match {args.query!r}.")
        return 0
    print(
        f"{'model':<52} {'downloads':>10} {'likes':>6} {'size':>10}  {'architecture':<18} licence"
    )
    for hit in hits:
        print(_row(hit))
    print("✓ = Quantdesk can use it (GGUF files, or a checkpoint it can convert).")
    return 0


def _row(hit: ModelSummary) -> str:
    size = format_bytes(hit.size_bytes) if hit.size_bytes else "-"
    kind = "GGUF" if hit.is_gguf else (hit.model_type or "unknown")
    mark = "✓" if hit.supported else "✗"
    gated = " (gated)" if hit.gated else ""
    return (
        f"{hit.repo_id:<52} {hit.downloads:>10} {hit.likes:>6} {size:>10}  "
        f"{mark} {kind:<16} {hit.license or '-'}{gated}"
    )
