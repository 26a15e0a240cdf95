"""``struct ggml_tensor`` as ctypes sees it, for code that reads llama.cpp's graph nodes
(the importance-matrix callback and the device sums it asks for)."""

from __future__ import annotations

import ctypes

# ggml.h of the llama.cpp in llama-cpp-python 0.3.36
_GGML_MAX_DIMS = 4
_GGML_MAX_OP_PARAMS = 64
_GGML_MAX_SRC = 10
_GGML_MAX_NAME = 64
#: ``GGML_TYPE_F32``
GGML_TYPE_F32 = 0


class GgmlTensor(ctypes.Structure):
    """``struct ggml_tensor`` (ggml.h), read-only."""


GgmlTensor._fields_ = [
    ("type", ctypes.c_int),
    ("buffer", ctypes.c_void_p),
    ("ne", ctypes.c_int64 * _GGML_MAX_DIMS),
    ("nb", ctypes.c_size_t * _GGML_MAX_DIMS),
    ("op", ctypes.c_int),
    ("op_params", ctypes.c_int32 * (_GGML_MAX_OP_PARAMS // 4)),
    ("flags", ctypes.c_int32),
    ("src", ctypes.POINTER(GgmlTensor) * _GGML_MAX_SRC),
    ("view_src", ctypes.POINTER(GgmlTensor)),
    ("view_offs", ctypes.c_size_t),
    ("data", ctypes.c_void_p),
    ("name", ctypes.c_char * _GGML_MAX_NAME),
    ("extra", ctypes.c_void_p),
    ("padding", ctypes.c_char * 8),
]


def tensor_buffer(tensor: GgmlTensor) -> int:
    """The address of the backend buffer holding the tensor's bytes: its own, or that of the
    tensor it views; 0 when neither has one."""
    if tensor.buffer:
        return int(tensor.buffer)
    if tensor.view_src:
        return int(tensor.view_src.contents.buffer or 0)
    return 0
