"""The text an importance matrix is collected on: the bundled one, a file, or a folder of files.

The bundled calibration text (``resources/calibration``) is a different work from the bundled
evaluation text (``resources/eval``), so a calibrated level is never measured on the text it
was calibrated on. A folder is read as the concatenation of its ``.txt`` and ``.md`` files
(sorted by name, recursively). Empty, binary and non-UTF-8 files are refused with a reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from converter.errors import CalibrationTextError
from converter.resources import resource_path

BUNDLED_CALIBRATION_PATH = resource_path("calibration", "federalist_papers.txt")
BUNDLED_NAME = "bundled calibration text (The Federalist Papers)"
TEXT_SUFFIXES = (".txt", ".md")
_BINARY_SAMPLE_BYTES = 8192

__all__ = ["CalibrationText", "CalibrationTextError", "load_calibration_text"]


@dataclass(frozen=True, slots=True)
class CalibrationText:
    """A calibration text and the name recorded as the matrix's dataset."""

    text: str
    name: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def load_calibration_text(source: Path | None = None) -> CalibrationText:
    """The bundled text (None), a UTF-8 text file, or a folder of them."""
    if source is None:
        return CalibrationText(_read_text_file(BUNDLED_CALIBRATION_PATH), "federalist_papers.txt")
    source = Path(source)
    if source.is_dir():
        files = sorted(
            p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
        )
        if not files:
            raise CalibrationTextError(
                f"The folder {source} holds no .txt or .md files to calibrate on."
            )
        text = "\n\n".join(_read_text_file(p) for p in files)
        return CalibrationText(text, source.name)
    return CalibrationText(_read_text_file(source), source.name)


def _read_text_file(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CalibrationTextError(f"The calibration text {path} does not exist.") from None
    except OSError as exc:
        raise CalibrationTextError(
            f"Cannot read the calibration text {path}: {exc.strerror}."
        ) from exc
    if b"\x00" in raw[:_BINARY_SAMPLE_BYTES]:
        raise CalibrationTextError(
            f"The calibration text {path.name} is a binary file, not plain text; "
            "give a UTF-8 text file."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CalibrationTextError(
            f"The calibration text {path.name} is not UTF-8 plain text; save it as UTF-8 and retry."
        ) from None
    if not text.strip():
        raise CalibrationTextError(f"The calibration text {path.name} is empty.")
    return text
