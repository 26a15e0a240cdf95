"""llama.cpp's eval callback that accumulates an importance matrix, as ``llama-imatrix`` does.

llama.cpp's graph scheduler asks the callback about every node it is about to compute
(``ask=True``) and, for those the callback wants, calls it again once the node is computed
(``ask=False``), with the node's inputs readable. Like ``tools/imatrix/imatrix.cpp``:

* ``MUL_MAT`` nodes whose weight (``src[0]``) is a ``blk.*`` tensor and whose input
  (``src[1]``) is F32 with at least 16 rows are collected; the squared input of every row is
  added to the weight's per-column sums and the row count to its count;
* every ``MUL_MAT_ID`` node (mixture-of-experts) is collected per expert: the expert ids
  (``src[2]``) say which expert each token's row went to;
* a weight copied to another backend has a decorated name (``CUDA0#blk.0.attn_k.weight#0``);
  the part between the ``#`` marks is the weight's name.

Inputs that live in host memory are read in place and summed with numpy. An input in device
memory (CUDA, Metal) is summed on its device by a small ggml graph
(:mod:`desktop.engine.imatrix_backend_sums`), and only its column sums come back; one the
device cannot sum there (a strided view, a split buffer, and every mixture-of-experts input) is
copied to host memory with ``ggml_backend_tensor_get`` and summed with numpy. Consecutive
matrix multiplications that share one input (the attention's q, k and v) reuse the first
one's squared sums. One call's sums are taken in float32, as llama-imatrix adds them, and
added to float64 totals across calls.
"""

from __future__ import annotations

import ctypes
import pathlib
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.engine.ggml_tensor_struct import GGML_TYPE_F32, GgmlTensor, tensor_buffer
from desktop.engine.imatrix_backend_sums import BackendColumnSquares, SumsWhere

_MIN_ROWS = 16  # llama-imatrix ignores smaller batches


class GgmlLibrary:
    """The few ggml functions the callback needs, from the library llama-cpp-python ships."""

    def __init__(self) -> None:
        import llama_cpp
        import llama_cpp._ctypes_extensions as ctypes_ext

        folder = pathlib.Path(llama_cpp.__file__).parent / "lib"
        try:
            lib = ctypes_ext.load_shared_library("ggml-base", folder)
        except (FileNotFoundError, RuntimeError, OSError):
            lib = ctypes_ext.load_shared_library("ggml", folder)
        lib.ggml_nbytes.argtypes = [ctypes.c_void_p]
        lib.ggml_nbytes.restype = ctypes.c_size_t
        lib.ggml_backend_buffer_is_host.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_buffer_is_host.restype = ctypes.c_bool
        lib.ggml_backend_tensor_get.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_size_t,
        ]
        lib.ggml_backend_tensor_get.restype = None
        lib.ggml_get_data.argtypes = [ctypes.c_void_p]
        lib.ggml_get_data.restype = ctypes.c_void_p
        lib.ggml_op_name.argtypes = [ctypes.c_int]
        lib.ggml_op_name.restype = ctypes.c_char_p
        self._lib = lib
        self.backend_sums = BackendColumnSquares(lib)
        self.op_mul_mat = self._op_number(b"MUL_MAT")
        self.op_mul_mat_id = self._op_number(b"MUL_MAT_ID")

    def _op_number(self, name: bytes) -> int:
        """The enum value of an op, found by its name (not copied from ggml.h)."""
        for number in range(1, 200):
            if self._lib.ggml_op_name(number) == name:
                return number
        raise RuntimeError(f"ggml has no {name.decode()} operation")

    def is_host(self, tensor: GgmlTensor) -> bool:
        """Whether the tensor's bytes are in host memory (False too when it has no buffer)."""
        buffer_address = tensor_buffer(tensor)
        return bool(buffer_address) and bool(self._lib.ggml_backend_buffer_is_host(buffer_address))

    def read(self, address: int, tensor: GgmlTensor, scratch: dict[int, Any]) -> npt.NDArray:
        """The tensor's bytes as numpy: in place on the host, else copied from the device.

        Raises ValueError (the callback then reports a failure) rather than reading memory
        that is not known to be the host's: a tensor without a buffer of its own or of the
        tensor it views, or without data."""
        nbytes = int(self._lib.ggml_nbytes(address))
        buffer_address = tensor_buffer(tensor)
        if not buffer_address or not tensor.data:
            raise ValueError(f"tensor {tensor.name!r} has no buffer or no data to read")
        if not self._lib.ggml_backend_buffer_is_host(buffer_address):
            buffer = scratch.get(nbytes)
            if buffer is None:
                buffer = scratch[nbytes] = np.empty(nbytes, dtype=np.uint8)
            self._lib.ggml_backend_tensor_get(address, buffer.ctypes.data, 0, nbytes)
            return buffer
        data = self._lib.ggml_get_data(address)
        return np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(data))


def weight_name(raw: bytes) -> str:
    """``CUDA0#blk.0.attn_k.weight#0`` → ``blk.0.attn_k.weight``; plain names unchanged."""
    name = raw.decode("utf-8", errors="replace")
    if "#" in name:
        return name.split("#", 2)[1]
    return name


def _strided(buffer: npt.NDArray, tensor: GgmlTensor, dtype: Any) -> npt.NDArray:
    """A 4-D view (ne3, ne2, ne1, ne0) over ``buffer`` with the tensor's byte strides."""
    shape = (tensor.ne[3], tensor.ne[2], tensor.ne[1], tensor.ne[0])
    strides = (tensor.nb[3], tensor.nb[2], tensor.nb[1], tensor.nb[0])
    flat = buffer.view(dtype)
    return np.lib.stride_tricks.as_strided(flat, shape=shape, strides=strides, writeable=False)


class ImatrixAccumulator:
    """The callback's state: per weight, float64 sums (matrices × columns) and counts."""

    def __init__(
        self, ggml: GgmlLibrary, sums_where: SumsWhere = SumsWhere.DEVICE_INPUTS_ON_DEVICE
    ) -> None:
        self.ggml = ggml
        self.sums_where = sums_where
        #: Inputs summed by their backend (the rest were summed with numpy).
        self.backend_summed = 0
        self.sums: dict[str, npt.NDArray[np.float64]] = {}
        self.counts: dict[str, npt.NDArray[np.int64]] = {}
        self._scratch: dict[int, Any] = {}
        self._last_input: tuple[int, int, int] | None = None
        self._last_squares: npt.NDArray[np.float32] | None = None
        #: Time spent reading and summing inputs (the callback's own cost), in seconds.
        self.collect_seconds = 0.0
        self.c_callback = self._make_c_callback()

    def _make_c_callback(self) -> Any:
        import llama_cpp

        def callback(address: int, ask: bool, _user_data: Any) -> bool:
            try:
                return self.on_node(address, ask)
            except Exception:  # an exception must not unwind through C
                self.failed = True
                return False

        self.failed = False
        return llama_cpp.ggml_backend_sched_eval_callback(callback)

    def on_node(self, address: int, ask: bool) -> bool:
        node = GgmlTensor.from_address(address)
        op = node.op
        if op == self.ggml.op_mul_mat_id:
            if not ask:
                started = time.perf_counter()
                self._collect_expert_rows(node)
                self.collect_seconds += time.perf_counter() - started
            return True
        if op != self.ggml.op_mul_mat:
            return False
        src1 = node.src[1].contents
        if ask:
            if src1.ne[1] < _MIN_ROWS or src1.type != GGML_TYPE_F32:
                return False
            return weight_name(node.src[0].contents.name).startswith("blk.")
        started = time.perf_counter()
        self._collect_rows(node, src1)
        self.collect_seconds += time.perf_counter() - started
        return True

    def _collect_rows(self, node: GgmlTensor, src1: GgmlTensor) -> None:
        src0 = node.src[0].contents
        name = weight_name(src0.name)
        ne0 = src1.ne[0]
        n_mat = src0.ne[2] * src0.ne[3]
        address = ctypes.addressof(src1)
        key = (address, src1.data or 0, src1.ne[1])
        if key == self._last_input and self._last_squares is not None:
            squares = self._last_squares
        elif (on_backend := self._on_backend(src1, n_mat)) is not None:
            squares = self._last_squares = on_backend[None, :]
            self._last_input = key
        else:
            x = _strided(self.ggml.read(address, src1, self._scratch), src1, np.float32)
            if n_mat == 1:
                rows = x.reshape(-1, ne0)  # a copy only when the rows are not contiguous
                squares = np.einsum("ij,ij->j", rows, rows)[None, :]
            else:
                squares = np.zeros((n_mat, ne0), dtype=np.float32)
                for i3 in range(src1.ne[3]):
                    for i2 in range(src1.ne[2]):
                        mat = (i3 % src0.ne[3]) * src0.ne[2] + (i2 % src0.ne[2])
                        block = x[i3, i2]
                        squares[mat] += np.einsum("ij,ij->j", block, block)
            self._last_input, self._last_squares = key, squares
        sums = self.sums.get(name)
        if sums is None:
            sums = self.sums[name] = np.zeros((n_mat, ne0), dtype=np.float64)
            self.counts[name] = np.zeros(1, dtype=np.int64)
        sums += squares
        rows_total = src1.ne[1] * src1.ne[2] * src1.ne[3]
        self.counts[name] += rows_total // n_mat

    def _on_backend(self, src1: GgmlTensor, n_mat: int) -> npt.NDArray[np.float32] | None:
        """The input's column sums from its own backend, when this input is summed there."""
        if n_mat != 1 or self.sums_where is SumsWhere.HOST:
            return None
        if self.sums_where is SumsWhere.DEVICE_INPUTS_ON_DEVICE and self.ggml.is_host(src1):
            return None
        squares = self.ggml.backend_sums.column_squares(src1)
        if squares is not None:
            self.backend_summed += 1
        return squares

    @property
    def backend_seconds(self) -> float:
        """Of :attr:`collect_seconds`, those spent computing sums on a backend and reading
        them back."""
        return self.ggml.backend_sums.compute_seconds

    def close(self) -> None:
        """Free what summing on a device kept (backends, allocators)."""
        self.ggml.backend_sums.close()

    def _collect_expert_rows(self, node: GgmlTensor) -> None:
        self._last_input = None
        src0, src1, ids = node.src[0].contents, node.src[1].contents, node.src[2].contents
        name = weight_name(src0.name)
        n_as, ne0, n_tokens = src0.ne[2], src1.ne[0], src1.ne[2]
        n_ids = ids.ne[0]
        x = _strided(self.ggml.read(ctypes.addressof(src1), src1, self._scratch), src1, np.float32)
        id_view = _strided(
            self.ggml.read(ctypes.addressof(ids), ids, {}).copy(), ids, np.int32
        )  # (1, 1, n_tokens, n_ids)
        experts = np.asarray(id_view[0, 0]).reshape(n_tokens, n_ids)
        slots = np.arange(n_ids) % src1.ne[1]
        rows = np.asarray(x[0][:, slots, :], dtype=np.float64)  # (n_tokens, n_ids, ne0)
        flat_rows = rows.reshape(-1, ne0)
        flat_experts = experts.reshape(-1).astype(np.int64)
        if flat_experts.size and (flat_experts.min() < 0 or flat_experts.max() >= n_as):
            raise ValueError(f"expert id out of range in {name}")
        sums = self.sums.get(name)
        if sums is None:
            sums = self.sums[name] = np.zeros((n_as, ne0), dtype=np.float64)
            self.counts[name] = np.zeros(n_as, dtype=np.int64)
        np.add.at(sums, flat_experts, flat_rows * flat_rows)
        self.counts[name] += np.bincount(flat_experts, minlength=n_as)
