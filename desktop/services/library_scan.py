"""The library screen's work off the GUI thread: scanning the folders and the fit figures.

Plain Python. :mod:`desktop.services.library` (and with it the GGUF reader, ``gguf`` and
``numpy``) is imported by the first scan, on its thread: importing it with the window was a
large part of the app's start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.services.ladder_data import LadderPoint, ladder_points

if TYPE_CHECKING:
    from desktop.services.library import FactsCache, ModelGroup


class LibraryScanner:
    """Scans with one facts cache (so a rescan reads only changed files), one scan at a time."""

    def __init__(self) -> None:
        self._cache: FactsCache | None = None
        self._lock = threading.Lock()

    def scan(self, folders: Sequence[Path]) -> list[ModelGroup]:
        from desktop.services import library

        with self._lock:
            if self._cache is None:
                self._cache = library.FactsCache()
            return library.scan(folders, self._cache)


def points_by_path(
    groups: list[ModelGroup], hardware: Any, ctx_tokens: int, kv_type: str
) -> dict[Path, LadderPoint]:
    """Fit, speed and quality figures of every file, keyed by its path."""
    points = {}
    for group in groups:
        for point in ladder_points(list(group.files), hardware, ctx_tokens, kv_type):
            points[point.path] = point
    return points
