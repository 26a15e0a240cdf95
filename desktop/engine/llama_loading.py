"""Open a model with llama-cpp-python safely.

llama.cpp as shipped in llama-cpp-python 0.3.36 segfaults while generating with several
quantization types when the model's *extra buffer types* are in use (the CPU weight-repacking
and AMX buffers), so Quantdesk turns them off unless asked (``repack_weights=True``).
``Llama.__init__`` does not expose ``use_extra_bufts``; it builds its model parameters from
``llama_model_default_params()``, so we wrap that function while the model loads. This runs
in the worker child process, one load at a time (a lock guards it). The same override
carries an optional load-progress callback, which llama.cpp also uses to let a load be
abandoned half-way (the callback returns False).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from desktop.engine.cpu_threadpool import attach_cpu_threadpool
from desktop.engine.flash_attention import flash_attention_on
from desktop.engine.llama_log import route_llama_log

_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def _default_params_overridden(function_name: str, fields: dict[str, Any]) -> Iterator[None]:
    """While ``Llama`` is built, ``llama_cpp.<function_name>()`` returns ``fields`` changed."""
    import llama_cpp.llama as llama_module

    bindings = llama_module.llama_cpp
    original = getattr(bindings, function_name)

    def patched():
        params = original()
        known = {field[0] for field in type(params)._fields_}
        for name, value in fields.items():
            # A ctypes structure takes any attribute: a field this release renamed or dropped
            # would be set on the Python object and never reach llama.cpp.
            if name not in known:
                raise AttributeError(f"{function_name}() has no field {name!r} in this llama.cpp")
            setattr(params, name, value)
        return params

    setattr(bindings, function_name, patched)
    try:
        yield
    finally:
        setattr(bindings, function_name, original)


#: Called with the load fraction (0.0 … 1.0); returning False abandons the load.
LoadProgressCallback = Callable[[float], bool]


def _c_progress_callback(on_progress: LoadProgressCallback):
    """Wrap ``on_progress`` for llama.cpp; an exception in it must not abandon the load."""
    import llama_cpp

    def call(fraction: float, _user_data: Any) -> bool:
        try:
            return bool(on_progress(fraction))
        except Exception:
            return True

    return llama_cpp.llama_progress_callback(call)


def open_llama(
    model_path: Path | str,
    *,
    repack_weights: bool = False,
    on_progress: LoadProgressCallback | None = None,
    sequences: int = 1,
    cpu_threadpool: bool = True,
    **kwargs: Any,
):
    """``llama_cpp.Llama(model_path, **kwargs)`` with extra buffer types off by default.

    ``verbose`` defaults to False (llama-cpp-python's default floods stderr) and ``flash_attn``
    to the app's flash-attention default (llama-cpp-python's own is off), so a measurement or
    a reference opened here runs attention as the worker does. ``on_progress``
    receives the load fraction; when it returns False llama.cpp stops and ``Llama`` raises
    ``ValueError`` like for any failed load. ``sequences`` > 1 makes a context for that many
    independent sequences (``n_seq_max``), each with its own equal share of the KV cache
    (``Llama`` has no parameter for either). ``cpu_threadpool`` attaches a persistent CPU
    thread pool as llama.cpp's own tools do (:mod:`desktop.engine.cpu_threadpool`); False
    leaves llama-cpp-python's behaviour, fresh threads for every graph.
    """
    from llama_cpp import Llama

    route_llama_log()
    kwargs.setdefault("verbose", False)
    kwargs.setdefault("flash_attn", flash_attention_on(None))
    overrides: dict[str, Any] = {"use_extra_bufts": repack_weights}
    c_callback = None
    if on_progress is not None:
        c_callback = _c_progress_callback(on_progress)  # referenced until the load returns
        overrides["progress_callback"] = c_callback
    context_overrides = {"n_seq_max": sequences}
    try:
        with (
            _PATCH_LOCK,
            _default_params_overridden("llama_model_default_params", overrides),
            _default_params_overridden("llama_context_default_params", context_overrides),
        ):
            llama = Llama(str(model_path), **kwargs)
    finally:
        del c_callback
    if cpu_threadpool and not kwargs.get("vocab_only"):
        params = llama.context_params
        attach_cpu_threadpool(llama, params.n_threads, params.n_threads_batch)
    return llama
