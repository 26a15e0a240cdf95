"""Errors a person can read.

Every failure that reaches a user is a :class:`QuantdeskError` whose message says what went
wrong and, where possible, what to do about it. Code below the CLI and the GUI raises these
instead of letting library exceptions (``KeyError``, ``struct.error`` …) escape.
"""

from __future__ import annotations

import importlib

#: Every error class by the name it travels under across a process boundary.
_ERROR_CLASSES: dict[str, type[QuantdeskError]] = {}


def error_class_name(cls: type[BaseException]) -> str:
    """The name an error class travels under between processes: ``module:Class``."""
    return f"{cls.__module__}:{cls.__qualname__}"


class QuantdeskError(Exception):
    """Base class: ``str(error)`` is a complete sentence meant for a person."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        _ERROR_CLASSES[error_class_name(cls)] = cls


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


def rebuild_error(class_name: str, message: str, what: str) -> QuantdeskError:
    """The twin of an error a child process raised, of the same class and with its message.

    ``class_name`` comes from :func:`error_class_name`. A class the parent has not imported
    yet is looked up in its module (Quantdesk's own packages only). Anything that is not a
    :class:`QuantdeskError` (a bug) becomes a plain one that names ``what`` failed.
    """
    cls = _ERROR_CLASSES.get(class_name) or _import_error_class(class_name)
    if cls is None:
        return QuantdeskError(f"{what} failed unexpectedly: {message or class_name}")
    if cls is Cancelled:
        return Cancelled(what)
    error = cls.__new__(cls)
    Exception.__init__(error, message)  # the message as sent, whatever the class's __init__
    return error


def _import_error_class(class_name: str) -> type[QuantdeskError] | None:
    module_name, _, qualname = class_name.partition(":")
    if module_name.split(".")[0] not in {"converter", "desktop"}:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    cls = getattr(module, qualname, None)
    return cls if isinstance(cls, type) and issubclass(cls, QuantdeskError) else None
