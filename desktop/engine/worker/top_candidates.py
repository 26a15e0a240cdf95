"""The few tokens that can survive a sampler chain's top-k cut, found in one vectorised pass.

``llama_sampler_sample`` hands the chain the whole vocabulary: it fills a candidate array of
128k-262k entries, then the top-k link sorts part of it. That costs 0.9-1.3 ms per token, a
twentieth of a Gemma 3 270M token on two CPU cores and a fifth of a batched step on an H200.
The chain's answer depends only on the tokens that can still be among the top k when the
top-k link runs, so only those need to go in.

They are found with a bound, without sorting: split the logits into groups and take each
group's maximum. The m-th largest of those maxima is at most the m-th largest logit (m groups
each hold a logit at least that large), so every logit at or above it includes the top m.
A repetition penalty changes the logits of recently accepted tokens (up to ``recent`` of them)
before the cut, in either direction, so the set also takes those tokens and m is k plus their
number: at least k tokens that no penalty touched stay above the bound, and no token outside
the set can pass them.

The candidates go to the chain in vocabulary order, as ``llama_sampler_sample`` gives them, so
the chain sorts, cuts and draws exactly as it would over the whole vocabulary (only the order
of exactly equal logits at the cut could differ). Runs only in the worker child.
"""

from __future__ import annotations

import collections

import numpy as np
import numpy.typing as npt

#: Logits per group: 4096 groups over a 262k vocabulary, fine enough that the bound lets
#: through about m tokens, coarse enough that the maxima take one pass of SIMD.
_GROUP_ROWS = 64


class TopCandidates:
    """Per reply: which tokens can reach a top-``keep`` cut, given the recent tokens."""

    def __init__(self, n_vocab: int, *, keep: int, recent: int) -> None:
        self.keep = keep
        self._recent: collections.deque[int] = collections.deque(maxlen=max(recent, 1))
        self._track_recent = recent > 0
        self._bound_rank = keep + recent
        self._columns = n_vocab // _GROUP_ROWS
        self._body = self._columns * _GROUP_ROWS

    @staticmethod
    def worthwhile(n_vocab: int, *, keep: int, recent: int) -> bool:
        """Whether the bound can cut much: at least four groups for every token it keeps."""
        return keep > 0 and n_vocab // _GROUP_ROWS >= 4 * (keep + recent)

    def ids(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.int32] | None:
        """The candidate token ids in vocabulary order; None when the logits defeat the bound
        (NaN), and the whole vocabulary must go to the chain."""
        maxima = logits[: self._body].reshape(_GROUP_ROWS, self._columns).max(axis=0)
        if self._body < len(logits):
            maxima = np.concatenate((maxima, logits[self._body :]))
        rank = len(maxima) - self._bound_rank
        bound = np.partition(maxima, rank)[rank]
        ids = np.flatnonzero(logits >= bound)
        if self._track_recent and self._recent:
            ids = np.union1d(ids, np.fromiter(self._recent, dtype=np.int64))
        if len(ids) < self.keep:
            return None
        return ids.astype(np.int32)

    def accepted(self, token: int) -> None:
        """Record a drawn token (the penalty's window of recent tokens)."""
        if self._track_recent:
            self._recent.append(token)
