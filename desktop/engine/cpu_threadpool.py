"""A persistent CPU thread pool for a llama.cpp context, as llama.cpp's own tools attach one.

Without an attached pool, ggml starts and joins a fresh set of threads for every graph it
computes on the CPU: once per generated token, and once per piece of a graph that an
evaluation callback splits. ``llama-bench``, ``llama-server``, ``llama-cli`` and
``llama-imatrix`` avoid that by attaching a pool made with ggml's default parameters
(threads that poll briefly for the next graph before they sleep); llama-cpp-python attaches
none. :func:`attach_cpu_threadpool` gives a ``Llama``'s context the same pool and frees it
when the ``Llama`` closes; :func:`attach_to_context` does it for a bare context. The pool
functions are looked up through the CPU backend's registry, as llama.cpp's tools do, so this
works whether the backend is linked in or loaded at run time.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

#: ``GGML_MAX_N_THREADS``: the length of ``ggml_threadpool_params.cpumask``.
_MAX_THREADS = 512
#: ``GGML_BACKEND_DEVICE_TYPE_CPU``.
_CPU_DEVICE_TYPE = 0


class _PoolParams(ctypes.Structure):
    """``struct ggml_threadpool_params`` (ggml.h)."""

    _fields_ = [
        ("cpumask", ctypes.c_bool * _MAX_THREADS),
        ("n_threads", ctypes.c_int),
        ("prio", ctypes.c_int),
        ("poll", ctypes.c_uint32),
        ("strict_cpu", ctypes.c_bool),
        ("paused", ctypes.c_bool),
    ]


_NewPool = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_PoolParams))
_FreePool = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def attach_cpu_threadpool(llama: Any, n_threads: int, n_threads_batch: int) -> bool:
    """Attach pools to ``llama``'s context (see :func:`attach_to_context`); they are detached
    and freed when the ``Llama`` closes. False when nothing could be attached."""
    release = attach_to_context(llama.ctx, n_threads, n_threads_batch)
    if release is None:
        return False
    # Llama.close() unwinds this stack last-in first-out: the pools go before the context.
    llama._stack.callback(release)
    return True


def attach_to_context(ctx: Any, n_threads: int, n_threads_batch: int) -> Callable[[], None] | None:
    """Attach a pool of ``n_threads`` (and one of ``n_threads_batch`` for prompts, when that
    differs) to the llama.cpp context ``ctx``. Returns the function that detaches and frees
    them, to be called before the context is freed; None (nothing attached, llama.cpp keeps
    its own per-graph threads) when this build has no CPU backend pool API."""
    import llama_cpp
    from llama_cpp import _ggml

    functions = _pool_functions(_ggml.libggml)
    if functions is None:
        return None
    new_pool, free_pool, init_params = functions
    pools: list[int] = []

    def make(threads: int, *, paused: bool) -> int | None:
        params = _PoolParams()
        init_params(ctypes.byref(params), threads)
        params.paused = paused
        pool = new_pool(ctypes.byref(params))
        if pool:
            pools.append(pool)
        return pool

    batch_pool = make(n_threads_batch, paused=False) if n_threads_batch != n_threads else None
    # As llama.cpp's tools do: with two pools, the generation pool starts paused.
    pool = make(n_threads, paused=batch_pool is not None)
    if pool is None or (n_threads_batch != n_threads and batch_pool is None):
        for made in pools:
            free_pool(made)
        return None
    library = llama_cpp.llama_cpp._lib
    library.llama_attach_threadpool.argtypes = [ctypes.c_void_p] * 3
    library.llama_attach_threadpool.restype = None
    library.llama_detach_threadpool.argtypes = [ctypes.c_void_p]
    library.llama_detach_threadpool.restype = None
    library.llama_attach_threadpool(ctx, pool, batch_pool)

    def release() -> None:
        library.llama_detach_threadpool(ctx)
        for made in pools:
            free_pool(made)

    return release


def _pool_functions(libggml: ctypes.CDLL) -> tuple[Any, Any, Any] | None:
    libggml.ggml_backend_dev_by_type.argtypes = [ctypes.c_int]
    libggml.ggml_backend_dev_by_type.restype = ctypes.c_void_p
    libggml.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
    libggml.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
    libggml.ggml_backend_reg_get_proc_address.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    libggml.ggml_backend_reg_get_proc_address.restype = ctypes.c_void_p
    libggml.ggml_threadpool_params_init.argtypes = [ctypes.POINTER(_PoolParams), ctypes.c_int]
    libggml.ggml_threadpool_params_init.restype = None
    device = libggml.ggml_backend_dev_by_type(_CPU_DEVICE_TYPE)
    registry = libggml.ggml_backend_dev_backend_reg(device) if device else None
    if not registry:
        return None
    new_address = libggml.ggml_backend_reg_get_proc_address(registry, b"ggml_threadpool_new")
    free_address = libggml.ggml_backend_reg_get_proc_address(registry, b"ggml_threadpool_free")
    if not new_address or not free_address:
        return None
    return _NewPool(new_address), _FreePool(free_address), libggml.ggml_threadpool_params_init
