"""Writing files so that the library never holds a half-written one.

Every output is written under a temporary name in the destination folder and renamed into
place only when complete; a failure or a cancel removes the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from converter.errors import NotEnoughDiskSpace, OutputError

PARTIAL_SUFFIX = ".partial"


def partial_path(final: Path) -> Path:
    """The temporary name used while ``final`` is being written (hidden, same folder)."""
    return final.with_name(f".{final.name}.{os.getpid()}{PARTIAL_SUFFIX}")


def ensure_writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and prove we can write into it, or raise :class:`OutputError`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the output folder {folder}: {exc.strerror}.") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"The output folder {folder} is not writable; choose another folder.")


def ensure_free_space(folder: Path, needed_bytes: int, what: str) -> None:
    """Raise :class:`NotEnoughDiskSpace` unless ``folder``'s disk has ``needed_bytes`` free."""
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise NotEnoughDiskSpace(
            f"Not enough disk space for {what}: it needs about {format_bytes(needed_bytes)} "
            f"but only {format_bytes(free)} is free in {folder}."
        )


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``final`` only if the block succeeds."""
    tmp = partial_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise NotEnoughDiskSpace(
                f"The disk filled up while writing {final.name}; nothing was kept."
            ) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def format_bytes(n: float) -> str:
    """Human-readable size with binary units (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
