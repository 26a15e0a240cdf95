"""``quantdesk download REPO [FILE]``: a GGUF into the library, or a checkpoint to convert.

``FILE`` may be a file name or a level (``Q4_K_M``). Interrupt it at any time: running the same
command again resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from converter.gguf_shards import model_name
from converter.hub.download import download_file
from converter.hub.fetch import download_checkpoint, download_gguf, hub_cache_dir
from converter.hub.hub_client import RepoDetails, repo_details
from converter.hub.hub_errors import UnsupportedRepo
from converter.hub.repo_kind import GgufChoice, RepoKind
from converter.paths import library_dir
from converter.progress import Job, run_job
from converter.storage import format_bytes
from desktop.commands.terminal_progress import TerminalProgress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo", help="model on the hub, ORGANISATION/NAME")
    parser.add_argument("file", nargs="?", help="file name or level (Q4_K_M) of a GGUF repo")
    parser.add_argument("--out", type=Path, help="folder to download into (default: library)")
    parser.add_argument("--revision", help="branch, tag or commit (default: main)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    details = repo_details(args.repo, revision=args.revision)
    single_file = args.file is not None and details.kind is not RepoKind.GGUF
    if single_file or details.kind is RepoKind.UNSUPPORTED:
        if not args.file:
            raise UnsupportedRepo(
                f"{details.repo_id} holds neither GGUF files nor a safetensors checkpoint; "
                "name a file to download it anyway."
            )
        job = download_file(
            details.repo_id, args.file, args.out or library_dir(), revision=details.revision
        )
    elif details.kind is RepoKind.GGUF:
        choice = _pick(details, args.file)
        if choice is None:
            return 2
        job = download_gguf(
            details.repo_id, choice, args.out or library_dir(), revision=details.revision
        )
    else:
        out = args.out or hub_cache_dir(details.repo_id)
        job = download_checkpoint(details.repo_id, out, revision=details.revision)
    path = _run_with_progress(job)
    if args.json:
        print(
            json.dumps(
                {"repo_id": details.repo_id, "revision": details.revision, "path": str(path)}
            )
        )
    else:
        print(path)
        if args.out is None and path.suffix == ".gguf":  # in the library, by its name
            print(f"Chat with it: quantdesk chat {model_name(path)}", file=sys.stderr)
    return 0


def _pick(details: RepoDetails, wanted: str | None) -> GgufChoice | None:
    choices = details.gguf
    if wanted is None and len(choices) == 1:
        return choices[0]
    if wanted is not None:
        for choice in choices:
            if wanted in choice.files or (choice.level or "").upper() == wanted.upper():
                return choice
        print(
            f"quantdesk: {details.repo_id} has no GGUF file or level {wanted!r}.", file=sys.stderr
        )
    print(f"{details.repo_id} offers these GGUF files; name one (or its level):", file=sys.stderr)
    for choice in choices:
        size = format_bytes(choice.size_bytes) if choice.size_bytes else "?"
        shards = f" ({len(choice.files)} parts)" if len(choice.files) > 1 else ""
        print(f"  {choice.level or '?':<8} {size:>10}  {choice.name}{shards}", file=sys.stderr)
    return None


def _run_with_progress(job: Job[Path]) -> Path:
    progress = TerminalProgress(sys.stderr)
    try:
        return run_job(job, progress.show)
    finally:
        progress.close()
