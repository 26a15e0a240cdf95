"""Per-column sums of squares of a tensor, computed by the ggml backend that holds it.

Collecting an importance matrix needs, for every matrix multiplication's input, the sum of
its squared values down each column. When the input lives in GPU memory, copying it to the
host and summing there made collecting cost 12× a plain evaluation on an H200 (8–29 MB per
input and layer, copied and summed while the device waits). Here a small ggml graph
(square, transpose, sum of rows) runs on the tensor's own device instead, and only the
column sums (one float per column) come back.

:class:`BackendColumnSquares` does it for one F32 tensor whose bytes are contiguous; for any
other (a strided view, a split buffer) it answers None and the caller reads the tensor as
before. The tensor's memory is used in place: a graph tensor is pointed at it with
``ggml_backend_tensor_alloc``, after the bounds that function asserts have been checked here
(a failed assert would end the process). One backend per device and one graph allocator per
backend are kept until :meth:`close`. Runs only inside llama.cpp's eval callback, in the
collecting child process.
"""

from __future__ import annotations

import ctypes
import enum
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.engine.ggml_tensor_struct import GGML_TYPE_F32, GgmlTensor, tensor_buffer

_CPU_DEVICE_TYPE = 0  # GGML_BACKEND_DEVICE_TYPE_CPU
_F32_BYTES = 4
_GRAPH_TENSORS = 8  # the input and the four nodes made from it, with room to spare


class SumsWhere(enum.Enum):
    """Where the callback sums an input's squares."""

    #: device inputs on their device, host inputs with numpy (the default)
    DEVICE_INPUTS_ON_DEVICE = "device"
    #: every input with numpy, device inputs copied to host memory first (the old way)
    HOST = "host"
    #: every input by the ggml backend that holds it, the CPU's too (tests the graph there)
    BACKEND = "backend"


class _InitParams(ctypes.Structure):
    """``struct ggml_init_params`` (ggml.h)."""

    _fields_ = [
        ("mem_size", ctypes.c_size_t),
        ("mem_buffer", ctypes.c_void_p),
        ("no_alloc", ctypes.c_bool),
    ]


_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[list[Any], Any]] = {
    "ggml_init": ([_InitParams], _P),
    "ggml_free": ([_P], None),
    "ggml_tensor_overhead": ([], ctypes.c_size_t),
    "ggml_graph_overhead": ([], ctypes.c_size_t),
    "ggml_new_tensor_2d": ([_P, ctypes.c_int, ctypes.c_int64, ctypes.c_int64], _P),
    "ggml_sqr": ([_P, _P], _P),
    "ggml_transpose": ([_P, _P], _P),
    "ggml_cont": ([_P, _P], _P),
    "ggml_sum_rows": ([_P, _P], _P),
    "ggml_new_graph": ([_P], _P),
    "ggml_build_forward_expand": ([_P, _P], None),
    "ggml_backend_buffer_get_type": ([_P], _P),
    "ggml_backend_buffer_is_host": ([_P], ctypes.c_bool),
    "ggml_backend_buffer_get_base": ([_P], _P),
    "ggml_backend_buffer_get_size": ([_P], ctypes.c_size_t),
    "ggml_backend_buft_get_device": ([_P], _P),
    "ggml_backend_dev_init": ([_P, ctypes.c_char_p], _P),
    "ggml_backend_free": ([_P], None),
    "ggml_backend_get_default_buffer_type": ([_P], _P),
    "ggml_backend_tensor_alloc": ([_P, _P, _P], ctypes.c_int),
    "ggml_backend_graph_compute": ([_P, _P], ctypes.c_int),
    "ggml_backend_tensor_get": ([_P, _P, ctypes.c_size_t, ctypes.c_size_t], None),
    "ggml_gallocr_new": ([_P], _P),
    "ggml_gallocr_alloc_graph": ([_P, _P], ctypes.c_bool),
    "ggml_gallocr_free": ([_P], None),
}


def _cpu_device() -> int | None:
    """The CPU backend's device, from ggml's backend registry."""
    from llama_cpp import _ggml

    registry = _ggml.libggml
    registry.ggml_backend_dev_by_type.argtypes = [ctypes.c_int]
    registry.ggml_backend_dev_by_type.restype = ctypes.c_void_p
    return registry.ggml_backend_dev_by_type(_CPU_DEVICE_TYPE) or None


def _bind(lib: Any) -> Any:
    """The functions above with their C signatures, or None when this ggml lacks one."""
    for name, (argtypes, restype) in _SIGNATURES.items():
        function = getattr(lib, name, None)
        if function is None:
            return None
        function.argtypes = argtypes
        function.restype = restype
    return lib


def contiguous_rows(tensor: GgmlTensor) -> int | None:
    """How many rows of ``ne[0]`` floats an F32 tensor's bytes hold back to back; None when
    the tensor is not F32 or its bytes are not contiguous."""
    if tensor.type != GGML_TYPE_F32:
        return None
    expected = _F32_BYTES
    for dim in range(4):
        if tensor.nb[dim] != expected:
            return None
        expected *= tensor.ne[dim]
    return int(tensor.ne[1] * tensor.ne[2] * tensor.ne[3])


class BackendColumnSquares:
    """Column sums of squares on the tensor's own backend (see the module's docstring)."""

    def __init__(self, lib: Any) -> None:
        self._lib = _bind(lib)
        self._backends: dict[int, tuple[int, int]] = {}  # device → (backend, allocator)
        #: Seconds spent computing the graphs and reading their sums back (the rest of a
        #: call's time is building the graph).
        self.compute_seconds = 0.0
        self._overhead = 0
        if self._lib is not None:
            self._overhead = (
                self._lib.ggml_tensor_overhead() * _GRAPH_TENSORS + self._lib.ggml_graph_overhead()
            )

    def column_squares(self, tensor: GgmlTensor) -> npt.NDArray[np.float32] | None:
        """``sum(x * x)`` down each column of ``tensor`` as float32 (``ne[0]`` values), or
        None when this tensor cannot be summed where it lies."""
        lib = self._lib
        rows = contiguous_rows(tensor)
        buffer = tensor_buffer(tensor)
        if lib is None or rows is None or not buffer or not tensor.data:
            return None
        columns = int(tensor.ne[0])
        start = lib.ggml_backend_buffer_get_base(buffer) or 0
        end = start + lib.ggml_backend_buffer_get_size(buffer)
        if not start <= tensor.data <= end - rows * columns * _F32_BYTES:
            return None  # not where its buffer says it is (a split or meta buffer)
        found = self._backend_for(buffer)
        if found is None:
            return None
        backend, allocator = found
        ctx = lib.ggml_init(_InitParams(self._overhead, None, True))
        if not ctx:
            return None
        try:
            x = lib.ggml_new_tensor_2d(ctx, GGML_TYPE_F32, columns, rows)
            if lib.ggml_backend_tensor_alloc(buffer, x, tensor.data) != 0:
                return None
            # sum_rows adds along ne[0]; the columns' sums need the rows along it.
            sums = lib.ggml_sum_rows(
                ctx, lib.ggml_cont(ctx, lib.ggml_transpose(ctx, lib.ggml_sqr(ctx, x)))
            )
            graph = lib.ggml_new_graph(ctx)
            lib.ggml_build_forward_expand(graph, sums)
            if not lib.ggml_gallocr_alloc_graph(allocator, graph):
                return None
            started = time.perf_counter()
            try:
                if lib.ggml_backend_graph_compute(backend, graph) != 0:
                    return None
                result = np.empty(columns, dtype=np.float32)
                lib.ggml_backend_tensor_get(sums, result.ctypes.data, 0, columns * _F32_BYTES)
            finally:
                self.compute_seconds += time.perf_counter() - started
            return result
        finally:
            lib.ggml_free(ctx)

    def _backend_for(self, buffer: int) -> tuple[int, int] | None:
        lib = self._lib
        device = lib.ggml_backend_buft_get_device(lib.ggml_backend_buffer_get_type(buffer))
        if not device and lib.ggml_backend_buffer_is_host(buffer):
            device = _cpu_device()  # llama.cpp's CPU compute buffers name no device
        if not device:
            return None
        found = self._backends.get(device)
        if found is None:
            backend = lib.ggml_backend_dev_init(device, None)
            if not backend:
                return None
            allocator = lib.ggml_gallocr_new(lib.ggml_backend_get_default_buffer_type(backend))
            if not allocator:
                lib.ggml_backend_free(backend)
                return None
            found = self._backends[device] = (backend, allocator)
        return found

    def close(self) -> None:
        """Free the backends and their allocators (the sums already read stay valid)."""
        if self._lib is None:
            return
        for backend, allocator in self._backends.values():
            self._lib.ggml_gallocr_free(allocator)
            self._lib.ggml_backend_free(backend)
        self._backends.clear()
