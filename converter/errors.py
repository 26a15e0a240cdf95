"""Errors a person can read.

Every failure that reaches a user is a :class:`QuantdeskError` whose message says what went
wrong and, where possible, what to do about it. Code below the CLI and the GUI raises these
instead of letting library exceptions (``KeyError``, ``struct.error`` …) escape.
"""

from __future__ import annotations


class QuantdeskError(Exception):
    """Base class: ``str(error)`` is a complete sentence meant for a person."""


class Cancelled(QuantdeskError):
    """The user cancelled the job; nothing it was writing was kept."""

    def __init__(self, what: str = "The job") -> None:
        super().__init__(f"{what} was cancelled; nothing was written.")


class UnsupportedArchitecture(QuantdeskError):
    """The checkpoint's architecture has no conversion table."""


class CheckpointError(QuantdeskError):
    """The checkpoint folder is missing files or holds corrupt ones."""


class TokenizerError(QuantdeskError):
    """The tokenizer cannot be converted faithfully."""


class OutputError(QuantdeskError):
    """The output location cannot be written (permissions, full disk, same as input)."""


class NotEnoughDiskSpace(OutputError):
    """Free space on the target disk is below what the job needs."""


class QuantizationError(QuantdeskError):
    """llama.cpp could not quantize the model."""


class ModelLoadError(QuantdeskError):
    """llama.cpp could not load a model."""


class WorkerCrashed(QuantdeskError):
    """The child process running llama.cpp died (crash, abort or kill)."""


class CalibrationTextError(QuantdeskError):
    """The calibration text cannot be used (missing, empty, binary or too short)."""


class ImatrixCollectionError(QuantdeskError):
    """llama.cpp's evaluation failed while collecting an importance matrix."""
