"""The few named tensor transforms a conversion needs, as data the writer applies row by row.

Every transform used by the supported families is either a reordering of rows or an
elementwise ``x * scale + shift``, so a :class:`RowTransform` captures all of them and the
writer can apply it to one block of rows at a time without holding the whole tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from converter.architectures.hparams import HParams
from converter.checkpoint import TensorRef


@dataclass(frozen=True, slots=True)
class RowTransform:
    """``out[i] = source[row_order[i]] * scale + shift`` (``row_order`` None: identity)."""

    row_order: np.ndarray | None = None
    scale: float = 1.0
    shift: float = 0.0

    @property
    def keeps_values(self) -> bool:
        """No arithmetic: at most a row reorder, so rows can be moved in their stored encoding."""
        return self.scale == 1.0 and self.shift == 0.0

    @property
    def is_identity(self) -> bool:
        return self.row_order is None and self.keeps_values

    def then(self, other: RowTransform) -> RowTransform:
        """This transform followed by ``other``."""
        if self.row_order is not None and other.row_order is not None:
            order = self.row_order[other.row_order]
        else:
            order = self.row_order if other.row_order is None else other.row_order
        return RowTransform(
            row_order=order,
            scale=self.scale * other.scale,
            shift=self.shift * other.scale + other.shift,
        )

    def apply(self, rows: np.ndarray) -> np.ndarray:
        """Apply the elementwise part to float32 rows (the row order is applied when reading)."""
        if self.scale != 1.0:
            rows *= np.float32(self.scale)
        if self.shift != 0.0:
            rows += np.float32(self.shift)
        return rows


IDENTITY = RowTransform()


def _rope_rows(n_head: int, rows: int) -> np.ndarray:
    """Row order turning Hugging Face's rotate-half rope layout into llama.cpp's paired layout.

    Within each head, HF keeps the two halves of every rotated pair ``head_dim / 2`` rows
    apart; llama.cpp's LLAMA rope wants them adjacent. Output row ``(h, i, j)`` comes from
    source row ``(h, j, i)`` for ``i < head_dim / 2`` and ``j ∈ {0, 1}``.
    """
    half = rows // n_head // 2
    return np.arange(rows).reshape(n_head, 2, half).swapaxes(1, 2).reshape(rows)


def rope_permute_q(hp: HParams, ref: TensorRef) -> RowTransform:
    return RowTransform(row_order=_rope_rows(hp.n_head, ref.rows))


def rope_permute_k(hp: HParams, ref: TensorRef) -> RowTransform:
    return RowTransform(row_order=_rope_rows(hp.n_head_kv, ref.rows))


def norm_plus_one(hp: HParams, ref: TensorRef) -> RowTransform:
    """Gemma's RMSNorm multiplies by ``1 + weight``; llama.cpp multiplies by the weight."""
    return RowTransform(shift=1.0)


def llama_cpp_attention_scale(arch: str, hp: HParams) -> float:
    """The query scale llama.cpp hard-codes for Gemma 2/3 (it reads no key for it).

    llama.cpp uses ``1/sqrt(head_dim)``, except for the 27B models (recognised by their layer
    count), where it uses ``1/sqrt(hidden_size / heads)`` as Google's reference code does.
    """
    layers_27b = {"gemma2": 46, "gemma3": 62}[arch]
    denominator = hp.n_embd / hp.n_head if hp.n_layer == layers_27b else hp.head_dim
    return 1.0 / math.sqrt(denominator)


def _query_scale_for(arch: str) -> Callable[[HParams, TensorRef], RowTransform]:
    def query_scale(hp: HParams, ref: TensorRef) -> RowTransform:
        """Fold ``query_pre_attn_scalar`` into the query weights where llama.cpp's differs."""
        wanted = float(hp.get("query_pre_attn_scalar", hp.head_dim)) ** -0.5
        ratio = wanted / llama_cpp_attention_scale(arch, hp)
        return IDENTITY if math.isclose(ratio, 1.0, rel_tol=1e-7) else RowTransform(scale=ratio)

    return query_scale


#: Named transforms the architecture tables refer to.
TRANSFORMS: Mapping[str, Callable[[HParams, TensorRef], RowTransform]] = MappingProxyType(
    {
        "rope_permute_q": rope_permute_q,
        "rope_permute_k": rope_permute_k,
        "norm_plus_one": norm_plus_one,
        "gemma2_query_scale": _query_scale_for("gemma2"),
        "gemma3_query_scale": _query_scale_for("gemma3"),
    }
)


def resolve(names: tuple[str, ...], hp: HParams, ref: TensorRef) -> RowTransform:
    """Compose the named transforms, in order, for one tensor."""
    result = IDENTITY
    for name in names:
        result = result.then(TRANSFORMS[name](hp, ref))
    return result
