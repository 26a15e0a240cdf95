"""The text an importance matrix is collected on: the bundled one, a file, or a folder of files.

The bundled calibration text (``resources/calibration``) is a different work from the bundled
evaluation text (``resources/eval``), so a calibrated level is never measured on the text it
was calibrated on. A folder is read as the concatenation of its ``.txt`` and ``.md`` files
(sorted by name, recursively). Empty, binary and non-UTF-8 files are refused with a reason.
"""

from __future__ import annotations

from pathlib import Path

from converter.errors import CalibrationTextError
from converter.resources import resource_path
from desktop.engine.text_files import PlainText, read_plain_text

BUNDLED_CALIBRATION_PATH = resource_path("calibration", "federalist_papers.txt")
BUNDLED_NAME = "bundled calibration text (The Federalist Papers)"

#: A calibration text and the name recorded as the matrix's dataset.
CalibrationText = PlainText

__all__ = ["CalibrationText", "CalibrationTextError", "load_calibration_text"]


def load_calibration_text(source: Path | None = None) -> CalibrationText:
    """The bundled text (None), a UTF-8 text file, or a folder of them."""
    return read_plain_text(
        BUNDLED_CALIBRATION_PATH if source is None else Path(source),
        role="calibration text",
        error=CalibrationTextError,
    )
