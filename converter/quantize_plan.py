"""What a quantization will write, known before llama.cpp starts: tensor order and sizes.

llama.cpp writes its output as a zero-filled header, then every tensor's data in the order of
its loader's weight map (layer number first, ``-1`` for tensors outside ``blk.N.``, then the
name), each padded to the file's alignment; the real header is written over the zeros at the
very end. So the size of the growing output file says how many tensors are already written,
given each tensor's output size, which follows from the type llama.cpp picks for it
(:mod:`converter.quant_mix` restates its rules).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from converter.errors import QuantizationError
from converter.gguf_header import (
    GGUFHeader,
    GGUFHeaderError,
    TensorInfo,
    read_gguf_header,
    tensor_bytes,
)
from converter.levels import QuantLevel
from converter.model_summary import summarize
from converter.quant_mix import predict_tensor_types, quantized_summary
from converter.storage import format_bytes

#: Bits per weight of the types a quantization can start from; others are already quantized.
_SOURCE_TYPE_BITS = MappingProxyType({"F32": 32, "F16": 16, "BF16": 16})


def is_matrix(tensor: TensorInfo) -> bool:
    """llama.cpp quantizes only tensors with two or more dimensions."""
    return sum(1 for dim in tensor.shape if dim > 1) >= 2


def write_order_key(tensor: TensorInfo) -> tuple[int, bytes]:
    """The order of llama.cpp's weight map: layer (``blk.N.``, else -1), then the name."""
    layer = -1
    if tensor.name.startswith("blk."):
        number = tensor.name.split(".", 2)[1]
        if number.isdigit():
            layer = int(number)
    return layer, tensor.name.encode()


@dataclass(frozen=True, slots=True)
class SourceModel:
    """The facts of a full-precision GGUF that a quantization needs, read from its header."""

    header: GGUFHeader

    @property
    def path(self) -> Path:
        return self.header.path

    @property
    def architecture(self) -> str:
        return self.header.architecture

    @property
    def tensors(self) -> tuple[TensorInfo, ...]:
        return self.header.tensors


def read_source(path: Path) -> SourceModel:
    """Read ``path``'s header; refuse files that are incomplete or already quantized."""
    header = read_gguf_header(path)
    if not header.tensors:
        raise QuantizationError(f"{path.name} holds no tensors, so there is nothing to quantize.")
    needed = _complete_file_bytes(header)
    if header.file_bytes < needed:
        raise QuantizationError(
            f"{path.name} is incomplete: its header describes {format_bytes(needed)} but the file "
            f"holds {format_bytes(header.file_bytes)}. Convert or download it again."
        )
    quantized = sorted({t.type_name for t in header.tensors} - set(_SOURCE_TYPE_BITS))
    if quantized:
        raise QuantizationError(
            f"{path.name} is already quantized (it holds {', '.join(quantized)} tensors). "
            "Quantizing again loses quality: start from the F16, BF16 or F32 file of this model."
        )
    return SourceModel(header)


def _complete_file_bytes(header: GGUFHeader) -> int:
    """Where the last tensor's data ends (no padding is required after it)."""
    *firsts, last = header.tensors
    padded = sum(_aligned(t.n_bytes, header.alignment) for t in firsts)
    return header.header_bytes + padded + last.n_bytes


@dataclass(frozen=True, slots=True)
class QuantPlan:
    """The predicted layout of one quantization's output file."""

    level: QuantLevel
    names: tuple[str, ...]  # in the order llama.cpp writes them
    data_ends: tuple[int, ...]  # predicted file offset where each tensor's padded data ends
    header_bytes: int

    @property
    def tensor_count(self) -> int:
        return len(self.names)

    @property
    def predicted_bytes(self) -> int:
        return self.data_ends[-1]

    def tensors_written(self, file_bytes: int) -> int:
        """How many tensors a partial output of ``file_bytes`` holds, by the prediction.

        Never says "all": only llama.cpp's return says that the last tensor is complete.
        """
        return min(bisect.bisect_right(self.data_ends, file_bytes), self.tensor_count - 1)


def plan_quantization(
    source: SourceModel, level: QuantLevel, *, has_imatrix: bool = False
) -> QuantPlan:
    header = source.header
    output_header_bytes, sizes = _predicted_sizes(header, level, has_imatrix)
    ordered = sorted(header.tensors, key=write_order_key)
    ends = []
    offset = output_header_bytes
    for tensor in ordered:
        offset += _aligned(sizes[tensor.name], header.alignment)
        ends.append(offset)
    return QuantPlan(level, tuple(t.name for t in ordered), tuple(ends), output_header_bytes)


def _predicted_sizes(
    header: GGUFHeader, level: QuantLevel, has_imatrix: bool
) -> tuple[int, dict[str, int]]:
    """Output header bytes and tensor bytes, from the type llama.cpp will pick per tensor.

    A model without the layer count the type rules need gets an estimate instead: vectors
    copied, matrices at the level's average bits per weight.
    """
    try:
        summary = summarize(header)
    except GGUFHeaderError:
        return header.header_bytes, {t.name: _estimate_bytes(t, level) for t in header.tensors}
    types = predict_tensor_types(summary, level, has_imatrix=has_imatrix)
    sizes = {t.name: tensor_bytes(types[t.name], t.shape) for t in header.tensors}
    quantized = quantized_summary(summary, level, has_imatrix=has_imatrix)
    return quantized.header.header_bytes, sizes


def _estimate_bytes(tensor: TensorInfo, level: QuantLevel) -> int:
    if not is_matrix(tensor):
        return tensor.n_bytes
    return math.ceil(tensor.n_bytes * level.bits_per_weight / _SOURCE_TYPE_BITS[tensor.type_name])


def _aligned(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment
