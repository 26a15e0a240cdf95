"""llama.cpp's log: quiet unless a ``Llama`` asked for it with ``verbose=True``.

llama-cpp-python 0.3.36 reads ggml's log levels by an older numbering (ggml.h now counts
NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5), so with ``verbose=False`` it still printed
llama.cpp's warnings (such as "using full-size SWA cache" for every Gemma 3 model) into the
terminal of ``quantdesk chat`` and ``quantdesk serve``. What goes wrong in llama.cpp reaches
the user as the app's own sentence (a failed load, a failed decode); its log lines are for a
``Llama`` made with ``verbose=True``, as llama-cpp-python means that switch.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import Any

_callback: Any = None  # the ctypes callback, kept alive while llama.cpp holds it
#: llama-cpp-python's logger, whose level its ``verbose`` switch sets. Held here because the
#: callback also runs while Python shuts down (a ``Llama`` freed then logs), when nothing
#: can be imported any more.
_verbose_switch: logging.Logger | None = None


def _print_if_verbose(_level: int, text: bytes, _user_data: Any) -> None:
    switch, stream = _verbose_switch, sys.stderr
    # Llama(verbose=True) sets DEBUG, False ERROR; stderr is None late in a shutdown.
    if switch is None or switch.level > logging.INFO or stream is None:
        return
    try:
        stream.write(text.decode("utf-8", errors="replace"))
        stream.flush()
    except (OSError, ValueError):  # a closed stderr: the line has nowhere to go
        pass


def route_llama_log(*, replacing_any: bool = False) -> None:
    """Make llama.cpp's log go through :func:`_print_if_verbose` in place of
    llama-cpp-python's callback. A callback someone else set (a measurement that reads the
    log) is left alone, unless ``replacing_any`` (a caller that captured the log for a while
    and is done)."""
    global _callback, _verbose_switch
    import llama_cpp
    from llama_cpp import _logger

    _verbose_switch = _logger.logger
    if _callback is None:
        _callback = llama_cpp.llama_log_callback(_print_if_verbose)
    if not replacing_any:
        current = llama_cpp.llama_log_callback()
        llama_cpp.llama_log_get(ctypes.byref(current), ctypes.byref(ctypes.c_void_p()))
        default = ctypes.cast(_logger.llama_log_callback, ctypes.c_void_p).value
        if ctypes.cast(current, ctypes.c_void_p).value != default:
            return
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
