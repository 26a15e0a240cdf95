"""Open a model with llama-cpp-python safely.

llama.cpp as shipped in llama-cpp-python 0.3.36 segfaults while generating with several
quantization types when the model's *extra buffer types* are in use (the CPU weight-repacking
and AMX buffers), so Quantdesk turns them off unless asked (``repack_weights=True``).
``Llama.__init__`` does not expose ``use_extra_bufts``; it builds its model parameters from
``llama_model_default_params()``, so we wrap that function while the model loads. This runs
in the worker child process, one load at a time (a lock guards it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def _model_params_overridden(**fields: Any) -> Iterator[None]:
    import llama_cpp.llama as llama_module

    bindings = llama_module.llama_cpp
    original = bindings.llama_model_default_params

    def patched():  # noqa: ANN202 - a ctypes struct
        params = original()
        for name, value in fields.items():
            setattr(params, name, value)
        return params

    with _PATCH_LOCK:
        bindings.llama_model_default_params = patched
        try:
            yield
        finally:
            bindings.llama_model_default_params = original


def open_llama(model_path: Path | str, *, repack_weights: bool = False, **kwargs: Any):  # noqa: ANN201
    """``llama_cpp.Llama(model_path, **kwargs)`` with extra buffer types off by default.

    ``verbose`` defaults to False (llama-cpp-python's default floods stderr).
    """
    from llama_cpp import Llama

    kwargs.setdefault("verbose", False)
    with _model_params_overridden(use_extra_bufts=repack_weights):
        return Llama(str(model_path), **kwargs)
