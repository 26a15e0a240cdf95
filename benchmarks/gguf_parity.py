"""Did two converters do the same work? Same tensors, types and shapes, and the same bytes.

A speed comparison means nothing if one tool skipped work (say the rope permutation of the
query and key rows) or wrote another type. Every tensor's name, type and shape is compared,
and the data of a sample that covers each kind of tensor: embeddings, permuted attention rows,
plain matrices of the first and last layer, F32 norms and the output head.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np


@dataclass(frozen=True, slots=True)
class Parity:
    label: str
    ours_tensors: int
    theirs_tensors: int
    layout_differences: tuple[str, ...]  # names missing on one side or with another type/shape
    compared: tuple[str, ...]  # tensors whose data was compared
    data_differences: tuple[str, ...]

    @property
    def same(self) -> bool:
        return self.ours_tensors == self.theirs_tensors and not (
            self.layout_differences or self.data_differences
        )

    def summary(self) -> str:
        if not self.same:
            return (
                f"DIFFERENT: {self.ours_tensors} vs {self.theirs_tensors} tensors, layout "
                f"differs in {list(self.layout_differences)}, data in {list(self.data_differences)}"
            )
        return (
            f"both {self.ours_tensors} tensors with equal names, types and shapes; "
            f"byte-identical data in {len(self.compared)} sampled tensors "
            f"({', '.join(self.compared)})"
        )


def sample_tensors(layers: int) -> tuple[str, ...]:
    last = layers - 1
    return (
        "token_embd.weight",
        "blk.0.attn_q.weight",
        f"blk.{last}.attn_k.weight",
        "blk.0.ffn_gate.weight",
        f"blk.{last}.ffn_down.weight",
        f"blk.{last}.attn_norm.weight",
        "output_norm.weight",
        "output.weight",
    )


def _tensors(path: Path) -> dict[str, gguf.ReaderTensor]:
    return {tensor.name: tensor for tensor in gguf.GGUFReader(path).tensors}


def _layout(tensor: gguf.ReaderTensor) -> tuple[object, ...]:
    return tensor.tensor_type, tuple(int(n) for n in tensor.shape)


def compare_outputs(ours: Path, theirs: Path, layers: int, label: str) -> Parity:
    mine, other = _tensors(ours), _tensors(theirs)
    layout = sorted(
        name
        for name in mine.keys() | other.keys()
        if name not in mine or name not in other or _layout(mine[name]) != _layout(other[name])
    )
    compared = tuple(name for name in sample_tensors(layers) if name in mine and name in other)
    differing = tuple(
        name
        for name in compared
        if not np.array_equal(
            np.asarray(mine[name].data).view(np.uint8), np.asarray(other[name].data).view(np.uint8)
        )
    )
    return Parity(label, len(mine), len(other), tuple(layout), compared, differing)
