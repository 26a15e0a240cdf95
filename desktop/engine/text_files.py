"""Plain text a model is run on (to calibrate or to measure): one reader and its refusals.

A file must be UTF-8 plain text with something in it; a folder is read as its ``.txt`` and
``.md`` files joined (sorted by name, recursively). Binary, non-UTF-8, empty and missing
sources are refused with a sentence that names the text's role ("the evaluation text …").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from converter.errors import QuantdeskError

TEXT_SUFFIXES = (".txt", ".md")
_BINARY_SAMPLE_BYTES = 8192


@dataclass(frozen=True, slots=True)
class PlainText:
    """A text and the name it is recorded under (a matrix's dataset, a measurement's key)."""

    text: str
    name: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def read_plain_text(source: Path, *, role: str, error: type[QuantdeskError]) -> PlainText:
    """``source`` (a file or a folder) as text; ``error`` with ``role`` in its message if not."""
    source = Path(source)
    if source.is_dir():
        files = sorted(
            p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
        )
        if not files:
            raise error(f"The folder {source} holds no .txt or .md files for the {role}.")
        return PlainText("\n\n".join(_read_file(p, role, error) for p in files), source.name)
    return PlainText(_read_file(source, role, error), source.name)


def _read_file(path: Path, role: str, error: type[QuantdeskError]) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"The {role} {path} does not exist.") from None
    except OSError as exc:
        raise error(f"Cannot read the {role} {path}: {exc.strerror}.") from exc
    if b"\x00" in raw[:_BINARY_SAMPLE_BYTES]:
        raise error(
            f"The {role} {path.name} is a binary file, not plain text; give a UTF-8 text file."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(
            f"The {role} {path.name} is not UTF-8 plain text; save it as UTF-8 and retry."
        ) from None
    if not text.strip():
        raise error(f"The {role} {path.name} is empty.")
    return text
