"""llama.cpp's own sampler chain for one reply, built from :class:`SamplingSettings`.

The chain runs inside ``llama_sampler_sample``: it reads the logits where llama.cpp left them
and accepts the chosen token itself, so no logits are copied into Python. The order is the
one llama-cpp-python's ``Llama.generate`` uses (repetition penalty, then greedy, or top-k,
top-p, min-p, temperature and a seeded draw), so the same seed picks the same tokens.
Links that cannot change the result (a penalty of 1, typical-p of 1) are left out. A reply
bound to a grammar gets llama.cpp's grammar sampler right after the penalty, before any link
that cuts candidates (a top-k cut first could leave no token the grammar allows).

Plain greedy decoding (temperature 0, no penalty) skips the chain: it would fill a
candidate array for the whole vocabulary (128k-262k entries) on every token only to keep
the largest. An argmax over a view of llama.cpp's own logits buffer (no copy) picks the
same token (the first of equal maxima, as llama.cpp's greedy sampler does) in a fraction of
the time. Runs only in the worker child.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from desktop.engine.worker.settings import SamplingSettings

#: How many recent tokens the repetition penalty looks at (llama-cpp-python's default).
PENALTY_LAST_TOKENS = 64


class SamplerChain:
    """A native ``llama_sampler`` chain; :meth:`close` frees it (the chain frees its links)."""

    def __init__(self, settings: SamplingSettings, *, n_vocab: int, grammar: Any = None) -> None:
        """``grammar``: a grammar sampler (see ``reply_format.grammar_sampler``); the chain
        takes it over and frees it."""
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._n_vocab = n_vocab
        self.pointer: Any = None
        self._argmax_only = (
            settings.temperature == 0 and settings.repeat_penalty == 1.0 and grammar is None
        )
        if self._argmax_only:
            return
        self.pointer = llama_cpp.llama_sampler_chain_init(
            llama_cpp.llama_sampler_chain_default_params()
        )
        for link in _links(llama_cpp, settings, n_vocab, grammar):
            llama_cpp.llama_sampler_chain_add(self.pointer, link)

    def sample(self, ctx: Any, row: int) -> int:
        """The next token from the logits of batch row ``row`` (accepted into the chain)."""
        if self._argmax_only:
            logits = self._llama_cpp.llama_get_logits_ith(ctx, row)
            return int(np.ctypeslib.as_array(logits, shape=(self._n_vocab,)).argmax())
        return int(self._llama_cpp.llama_sampler_sample(self.pointer, ctx, row))

    def close(self) -> None:
        if self.pointer is not None:
            pointer, self.pointer = self.pointer, None
            self._llama_cpp.llama_sampler_free(pointer)


def _links(llama_cpp: Any, settings: SamplingSettings, n_vocab: int, grammar: Any) -> list[Any]:
    links = []
    if settings.repeat_penalty != 1.0:
        links.append(
            llama_cpp.llama_sampler_init_penalties(
                n_vocab, PENALTY_LAST_TOKENS, settings.repeat_penalty, 0.0, 0.0
            )
        )
    if grammar is not None:
        links.append(grammar)
    if settings.temperature == 0:
        links.append(llama_cpp.llama_sampler_init_greedy())
        return links
    seed = settings.seed if settings.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED
    links += [
        llama_cpp.llama_sampler_init_top_k(settings.top_k),
        llama_cpp.llama_sampler_init_top_p(settings.top_p, 1),
        llama_cpp.llama_sampler_init_min_p(settings.min_p, 1),
        llama_cpp.llama_sampler_init_temp(settings.temperature),
        llama_cpp.llama_sampler_init_dist(seed),
    ]
    return links
