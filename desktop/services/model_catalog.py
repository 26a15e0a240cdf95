"""Where the library's models are, and the names the local API knows them by.

Kept apart from :mod:`desktop.services.library` (which reads GGUF headers, and so imports
gguf and numpy) so that the main window and the Local API tab can use it at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from converter.gguf_shards import model_name
from converter.paths import library_dir


def library_folders(extra: Iterable[str | Path] = ()) -> list[Path]:
    """The library: the app's own folder, then the folders the user added."""
    return [library_dir(), *(Path(folder) for folder in extra)]


def model_catalog(paths: Iterable[str | Path]) -> dict[str, Path]:
    """Models by the id the local API knows them by: the file name without ``.gguf`` (nor a
    split model's part numbering; the first file of a name wins)."""
    catalog: dict[str, Path] = {}
    for path in map(Path, paths):
        catalog.setdefault(model_name(path), path)
    return catalog
