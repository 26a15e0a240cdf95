"""The reference model's token distributions, kept on disk between the two quality passes.

Holding every reference distribution in memory would take ``positions × vocabulary × 4``
bytes (gigabytes for a long text and a 128k vocabulary), so pass 1 writes them to
memory-mapped files and pass 2 reads them back one chunk at a time.

Encoding (the one llama.cpp's ``perplexity --kl-divergence-base`` file uses): for each
position, log-probabilities within 16 nats of the most likely token are stored as 16-bit
codes on a linear scale, ``log_p = scale * code + offset``, with
``scale = (max_logit - min_kept_logit) / 65535 <= 16 / 65535``; anything lower is stored as
code 0. As in llama.cpp, the KL sum leaves out tokens whose stored log-probability is not
above -16 nats (``KEPT_RANGE_NATS``).

Error this introduces: each stored log-probability is off by at most ``scale / 2 <= 1.22e-4``
nats, so a position's KL divergence is off by at most about ``1.22e-4`` (the errors are
rounding errors of both signs and mostly cancel; measured on the reference against itself
the mean is below ``1e-6``); the tokens left out carry less than ``vocabulary × e^-16`` of
probability in total. The reference's top token and its
log-likelihood of the actual next token are stored without the 16-bit encoding (int32,
float64), so the
same-top share and the reference perplexity carry no encoding error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from converter.errors import QuantdeskError

#: Log-probabilities further than this below the top token are not stored (llama.cpp's value).
KEPT_RANGE_NATS = 16.0
_CODE_MAX = 65535
ROWS_PER_BLOCK = 8  # bounds the work arrays to 8 × vocabulary (they stay in the CPU's cache)

_META, _CODES, _SCALES, _TOP, _NLL, _TOKENS = (
    "meta.json",
    "codes.u16",
    "scales.f32",
    "top.i32",
    "nll.f64",
    "tokens.i32",
)


class ReferenceStoreError(QuantdeskError):
    """The reference distributions on disk are missing or do not match the request."""


@dataclass(frozen=True, slots=True)
class ReferenceChunk:
    """One chunk of the reference, decoded for comparison."""

    log_probs: np.ndarray  # float32 (positions, vocab); -inf where not above -16 nats
    top_token: np.ndarray  # int32 (positions,)
    nll: np.ndarray  # float64 (positions,): -log p(actual next token)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax (numerically stable): float32 values, as llama.cpp computes them,
    with the normalising sums taken in float64."""
    shifted = logits.astype(np.float32) - logits.max(axis=-1, keepdims=True).astype(np.float32)
    total = np.exp(shifted).sum(axis=-1, keepdims=True, dtype=np.float64)
    return shifted - np.log(total).astype(np.float32)


def codes_file_bytes(n_chunks: int, n_positions: int, n_vocab: int) -> int:
    """Size of the largest file; what the temporary folder must have room for."""
    return n_chunks * n_positions * n_vocab * np.dtype(np.uint16).itemsize


class ReferenceStore:
    """Files in one folder, written once by pass 1 and read by pass 2 (often in other processes)."""

    def __init__(
        self,
        folder: Path,
        n_chunks: int,
        n_positions: int,
        n_vocab: int,
        ctx: int,
        *,
        writable: bool,
    ) -> None:
        self.folder = folder
        self.n_chunks, self.n_positions, self.n_vocab, self.ctx = (
            n_chunks,
            n_positions,
            n_vocab,
            ctx,
        )
        self.writable = writable
        mode: Literal["w+", "r"] = "w+" if writable else "r"
        rows = (n_chunks, n_positions)
        self._codes = np.memmap(folder / _CODES, np.uint16, mode, shape=(*rows, n_vocab))
        self._scales = np.memmap(folder / _SCALES, np.float32, mode, shape=(*rows, 2))
        self._top = np.memmap(folder / _TOP, np.int32, mode, shape=rows)
        self._nll = np.memmap(folder / _NLL, np.float64, mode, shape=rows)
        self._tokens = np.memmap(folder / _TOKENS, np.int32, mode, shape=(n_chunks, ctx))
        self._written: set[int] = set()

    @property
    def codes_path(self) -> Path:
        return self.folder / _CODES

    @classmethod
    def create(
        cls, folder: Path, n_chunks: int, n_positions: int, n_vocab: int, ctx: int
    ) -> ReferenceStore:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, n_chunks, n_positions, n_vocab, ctx, writable=True)

    @classmethod
    def open(cls, folder: Path) -> ReferenceStore:
        """Open a store that pass 1 finished (it writes ``meta.json`` last)."""
        try:
            meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ReferenceStoreError(
                "The reference model's results are missing; run the reference pass first."
            ) from None
        return cls(
            folder,
            meta["n_chunks"],
            meta["n_positions"],
            meta["n_vocab"],
            meta["ctx"],
            writable=False,
        )

    def write_chunk(
        self, index: int, tokens: list[int], logits: np.ndarray, targets: np.ndarray
    ) -> np.ndarray:
        """Store one chunk (its tokens, the logits of its scored positions); return their NLL.

        ``logits`` is (positions, vocab) and ``targets`` the token each position predicts.
        """
        if not self.writable:
            raise ReferenceStoreError("This reference store was opened for reading.")
        if logits.shape != (self.n_positions, self.n_vocab) or len(tokens) != self.ctx:
            raise ReferenceStoreError(
                f"Chunk shape {logits.shape} does not match the store "
                f"({self.n_positions}, {self.n_vocab})."
            )
        self._tokens[index] = tokens
        for start in range(0, self.n_positions, ROWS_PER_BLOCK):
            rows = slice(start, start + ROWS_PER_BLOCK)
            log_p = log_softmax(logits[rows])  # 0 at the top token
            floor = np.maximum(log_p.min(axis=-1, keepdims=True), -KEPT_RANGE_NATS)
            scale = -floor / _CODE_MAX
            safe_scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            codes = np.rint((log_p - floor) / safe_scale)
            np.maximum(codes, 0, out=codes)  # below the floor: code 0, left out of the KL
            self._codes[index, rows] = codes.astype(np.uint16)
            self._scales[index, rows] = np.concatenate([scale, floor], axis=-1)
            self._top[index, rows] = log_p.argmax(axis=-1)
            target_log_p = np.take_along_axis(log_p, targets[rows, None], axis=-1)[:, 0]
            self._nll[index, rows] = -target_log_p.astype(np.float64)
        self._written.add(index)
        return np.array(self._nll[index])

    def finish(self) -> None:
        """Flush everything and write ``meta.json``, which marks the store complete."""
        if not self.writable:
            raise ReferenceStoreError("This reference store was opened for reading.")
        missing = set(range(self.n_chunks)) - self._written
        if missing:
            raise ReferenceStoreError(
                f"Chunks {sorted(missing)} of the reference were never written."
            )
        for array in (self._codes, self._scales, self._top, self._nll, self._tokens):
            array.flush()
        meta = {
            "n_chunks": self.n_chunks,
            "n_positions": self.n_positions,
            "n_vocab": self.n_vocab,
            "ctx": self.ctx,
        }
        (self.folder / _META).write_text(json.dumps(meta), encoding="utf-8")
        self.writable = False

    def tokens(self, index: int) -> list[int]:
        return [int(t) for t in self._tokens[index]]

    def read_chunk(self, index: int, rows: slice = slice(None)) -> ReferenceChunk:
        """Decode the scored positions ``rows`` of chunk ``index`` (all by default)."""
        codes = np.asarray(self._codes[index, rows], dtype=np.float32)
        scales = np.asarray(self._scales[index, rows])
        log_probs = codes * scales[:, :1] + scales[:, 1:]
        log_probs[log_probs <= -KEPT_RANGE_NATS] = -np.inf
        return ReferenceChunk(
            log_probs=log_probs,
            top_token=np.array(self._top[index, rows]),
            nll=np.array(self._nll[index, rows]),
        )
