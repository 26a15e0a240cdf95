"""The part of a quantization that runs in the child process: one call into llama.cpp.

It runs in a child (see :mod:`converter.child_process`) because llama.cpp may ``abort()`` on a bad
input and cannot be interrupted inside the call. llama.cpp reports why it failed only through
its log, so the child collects the warning and error lines to put them in the error message,
and drops the per-tensor information lines that would flood the terminal.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

from converter.errors import QuantizationError

# enum ggml_log_level in ggml.h (llama_cpp/_logger.py's comment has older numbers)
_GGML_LOG_LEVEL_WARN = 3
_GGML_LOG_LEVEL_ERROR = 4
_GGML_LOG_LEVEL_CONT = 5
_KEPT_LOG_LINES = 6


def quantize_in_child(
    emit: Callable[[Any], None], source: str, target: str, ftype: str, threads: int
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
    status = llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params))
    if status != 0:
        said = " ".join(problems[-_KEPT_LOG_LINES:]) or f"status {status}, no reason given"
        said = said.removeprefix("llama_model_quantize: ").rstrip(".")
        raise QuantizationError(
            f"llama.cpp could not quantize {Path(source).name} to {ftype}: {said}. "
            "If the file is damaged, convert or download it again."
        )
