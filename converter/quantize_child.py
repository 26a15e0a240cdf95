"""The part of a quantization that runs in the child process: one call into llama.cpp.

It runs in a child (see :mod:`converter.child_process`) because llama.cpp may ``abort()`` on a bad
input and cannot be interrupted inside the call. llama.cpp reports why it failed only through
its log, so the child collects the warning and error lines to put them in the error message,
and drops the per-tensor information lines that would flood the terminal.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import QuantizationError

# enum ggml_log_level in ggml.h (llama_cpp/_logger.py's comment has older numbers)
_GGML_LOG_LEVEL_WARN = 3
_GGML_LOG_LEVEL_ERROR = 4
_GGML_LOG_LEVEL_CONT = 5
_KEPT_LOG_LINES = 6


@dataclass(frozen=True, slots=True)
class ImatrixPayload:
    """An importance matrix as the quantizer takes it, and what the output records of it.

    ``values`` are the mean squared activations per column (flattened over experts);
    ``file``, ``dataset``, ``chunks`` become ``quantize.imatrix.*`` keys, as
    ``llama-quantize --imatrix`` writes them (strings cut to 127 bytes like its own).
    """

    values: dict[str, np.ndarray]
    file: str
    dataset: str
    chunks: int


def quantize_in_child(
    emit: Callable[[Any], None],
    source: str,
    target: str,
    ftype: str,
    threads: int,
    imatrix: ImatrixPayload | None = None,
) -> None:
    """Quantize ``source`` into ``target`` as llama.cpp's ``LLAMA_FTYPE_MOSTLY_<ftype>``.

    ``emit`` is unused: the parent follows the progress by the size of ``target``.
    """
    import llama_cpp

    problems: list[str] = []
    keeping = [False]  # whether a CONT line continues a kept one

    @llama_cpp.llama_log_callback
    def keep_problems(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        if level != _GGML_LOG_LEVEL_CONT:
            keeping[0] = level in (_GGML_LOG_LEVEL_WARN, _GGML_LOG_LEVEL_ERROR)
        line = text.decode("utf-8", errors="replace").strip()
        if keeping[0] and line and not set(line) <= set("=-"):
            problems.append(line)

    llama_cpp.llama_log_set(keep_problems, ctypes.c_void_p(0))
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + ftype)
    params.nthread = threads
    keep_alive: list[Any] = []
    if imatrix is not None:
        keep_alive = _attach_imatrix(llama_cpp, params, imatrix)
    status = llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params))
    del keep_alive
    if status != 0:
        said = " ".join(problems[-_KEPT_LOG_LINES:]) or f"status {status}, no reason given"
        said = said.removeprefix("llama_model_quantize: ").rstrip(".")
        raise QuantizationError(
            f"llama.cpp could not quantize {Path(source).name} to {ftype}: {said}. "
            "If the file is damaged, convert or download it again."
        )


def _attach_imatrix(llama_cpp: Any, params: Any, imatrix: ImatrixPayload) -> list[Any]:
    """Point ``params.imatrix`` and ``params.kv_overrides`` at C arrays; returns what must
    stay referenced until llama.cpp returns. Both arrays end with an empty entry."""
    names = sorted(imatrix.values)
    arrays = [np.ascontiguousarray(imatrix.values[name], dtype=np.float32) for name in names]
    entries = (llama_cpp.llama_model_imatrix_data * (len(names) + 1))()
    for entry, name, values in zip(entries, names, arrays, strict=False):
        entry.name = name.encode()
        entry.data = values.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        entry.size = values.size
    params.imatrix = entries
    overrides = [
        ("quantize.imatrix.file", imatrix.file),
        ("quantize.imatrix.dataset", imatrix.dataset),
        ("quantize.imatrix.entries_count", len(names)),
        ("quantize.imatrix.chunks_count", imatrix.chunks),
    ]
    kept = [  # llama-quantize leaves out an empty dataset name and a zero chunk count
        (key, value)
        for key, value in overrides
        if not (key.endswith("dataset") and not value)
        and not (key.endswith("chunks_count") and value <= 0)  # type: ignore[operator]
    ]
    kvs = (llama_cpp.llama_model_kv_override * (len(kept) + 1))()
    for kv, (key, value) in zip(kvs, kept, strict=False):
        kv.key = key.encode()
        if isinstance(value, str):
            kv.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
            kv.value.val_str = value.encode("utf-8")[:127]
        else:
            kv.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
            kv.value.val_i64 = value
    params.kv_overrides = kvs
    return [entries, arrays, kvs]
