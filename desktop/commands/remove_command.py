"""``quantdesk rm NAME…``: delete models from the library, as ``ollama rm`` does.

Deleting cannot be undone, so a model is named in full (``quantdesk list`` shows the names;
letter case aside), never by the start of its name as ``chat`` accepts, and a file outside
the library folders is refused. On a terminal the command asks first; elsewhere (a script)
it needs ``--yes``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from converter.errors import QuantdeskError
from converter.gguf_shards import model_bytes, model_name
from converter.storage import format_bytes
from desktop.commands.model_argument import (
    UnknownModel,
    configured_library_folders,
    find_model,
    library_catalog,
)
from desktop.services.library import delete_gguf


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models", nargs="+", metavar="NAME", help="a library model's name, or its file's path"
    )
    parser.add_argument("--yes", "-y", action="store_true", help="delete without asking")


def run(args: argparse.Namespace) -> int:
    catalog = library_catalog()
    files = [_library_file(typed, catalog) for typed in args.models]
    sizes = {path: model_bytes(path) for path in files}  # a model named twice goes once
    if not args.yes:
        if not sys.stdin.isatty():
            raise QuantdeskError("Deleting models cannot be undone: add --yes to delete them.")
        names = ", ".join(model_name(path) for path in sizes)
        answer = input(f"Delete {names} ({format_bytes(sum(sizes.values()))})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 1
    folders = configured_library_folders()
    for path, size in sizes.items():
        delete_gguf(path, folders)
        print(f"Deleted {model_name(path)} ({format_bytes(size)}).")
    return 0


def _library_file(typed: str, catalog: dict[str, Path]) -> Path:
    """The library file ``typed`` names in full; only a whole name or a path will do."""
    path = find_model(typed, catalog)
    name = model_name(path)
    if typed.casefold() != name.casefold() and not Path(typed).expanduser().exists():
        raise UnknownModel(
            f"quantdesk rm needs a model's whole name: did you mean '{name}'? "
            "(quantdesk list shows the names)"
        )
    if not path.is_file():
        raise UnknownModel(f"There is no model file {path}.")
    return path.resolve()
