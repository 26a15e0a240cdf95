"""Log-probabilities of generated tokens, read from llama.cpp's logits when a reply asks.

The figures are those of the model's raw distribution at each position (the log-softmax of
its logits, before temperature, penalties or a grammar), as OpenAI and llama.cpp's server
report them. They are computed from a view of llama.cpp's own logits buffer for the batch
row, after the token was drawn (drawing does not change that buffer), and only for replies
that asked: other replies pay nothing. Runs only in the worker child.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from desktop.engine.worker.generation import TokenPieces
from desktop.engine.worker.logits_rows import LogitsRows
from desktop.engine.worker.results import TokenLogprobs, TokenProbability


class LogprobReader:
    """Reads one position's figures from a decoded batch row."""

    def __init__(self, logits: LogitsRows, pieces: TokenPieces) -> None:
        self._logits = logits
        self._n_vocab = logits.n_vocab
        self._pieces = pieces

    def read(self, row: int, chosen: int, top: int) -> TokenLogprobs:
        """The chosen token's log-probability and the ``top`` most likely tokens, best first
        (equal logits: the lower id first, as llama.cpp's greedy sampler picks)."""
        logits = self._logits.row(row)
        peak = float(logits.max())
        log_total = peak + math.log(float(np.exp(logits.astype(np.float64) - peak).sum()))
        alternatives: tuple[TokenProbability, ...] = ()
        if top > 0:
            top = min(top, self._n_vocab)
            candidates = np.argpartition(-logits, top - 1)[:top]
            ordered = candidates[np.lexsort((candidates, -logits[candidates]))]
            alternatives = tuple(self._probability(int(t), logits, log_total) for t in ordered)
        return TokenLogprobs(self._probability(chosen, logits, log_total), alternatives)

    def _probability(self, token: int, logits: Any, log_total: float) -> TokenProbability:
        return TokenProbability(token, self._pieces(token), float(logits[token]) - log_total)
