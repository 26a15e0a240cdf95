"""``quantdesk list``: the library's models, as ``ollama list`` shows its own.

Each model's name is what ``quantdesk chat``, ``serve`` and ``fit`` take in place of a path
(:mod:`desktop.commands.model_argument`), and what the local API knows it by.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import Any

from converter.gguf_shards import model_name
from converter.paths import shown_path
from converter.storage import format_bytes
from desktop.commands.model_argument import configured_library_folders
from desktop.services.library import GgufFacts, scan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--paths", action="store_true", help="show each model's file too")


def run(args: argparse.Namespace) -> int:
    folders = configured_library_folders()
    files = [facts for group in scan(folders) for facts in group.files]
    if args.json:
        print(json.dumps([_as_json(facts) for facts in files], indent=2))
        return 0
    where = ", ".join(shown_path(folder) for folder in folders)
    if not files:
        print(f"No models in the library ({where}).")
        print("Get one with quantdesk download, or convert one with quantdesk convert.")
        return 0
    rows = [("NAME", "LEVEL", "SIZE", "PARAMETERS", "MODIFIED")]
    rows += [_row(facts) for facts in files]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row, facts in zip(rows, [None, *files], strict=True):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        if args.paths:
            line += "  " + ("PATH" if facts is None else shown_path(facts.path))
        print(line.rstrip())
    for facts in files:
        if facts.error:
            print(facts.error)  # it names the file
    print(f"\n{len(files)} model file{'s' if len(files) != 1 else ''} in {where}.")
    return 0


def _row(facts: GgufFacts) -> tuple[str, str, str, str, str]:
    level = "unreadable" if facts.error else facts.level_label
    return (
        model_name(facts.path),
        level,
        format_bytes(facts.size_bytes),
        _parameters(facts.parameter_count),
        _modified(facts.path).strftime("%Y-%m-%d %H:%M"),
    )


def _parameters(count: int) -> str:
    if count <= 0:
        return "—"
    if count >= 1e9:
        return f"{count / 1e9:.1f}B"
    return f"{count / 1e6:.0f}M"


def _modified(path: Path) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(path.stat().st_mtime)


def _as_json(facts: GgufFacts) -> dict[str, Any]:
    return {
        "name": model_name(facts.path),
        "path": str(facts.path),
        "base_model": facts.base_model,
        "level": facts.level,
        "calibrated": facts.calibrated,
        "size_bytes": facts.size_bytes,
        "architecture": facts.architecture,
        "parameter_count": facts.parameter_count,
        "context_length": facts.context_length,
        "modified": _modified(facts.path).isoformat(timespec="seconds"),
        "error": facts.error,
    }
