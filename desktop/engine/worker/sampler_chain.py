"""llama.cpp's own sampler chain for one reply, built from :class:`SamplingSettings`.

The chain runs inside ``llama_sampler_sample``: it reads the logits where llama.cpp left them
and accepts the chosen token itself, so no logits are copied into Python. The order is the
one llama-cpp-python's ``Llama.generate`` uses (repetition penalty, then greedy, or top-k,
top-p, min-p, temperature and a seeded draw), so the same seed picks the same tokens.
Links that cannot change the result (a penalty of 1, typical-p of 1) are left out.

A reply bound to a grammar also has llama.cpp's grammar sampler, outside the chain. Checking
every candidate against the grammar costs a pass over the whole vocabulary per token (about
70 ms per token with Gemma 3's 262k tokens on the CPU in docs/benchmarks.md, three times the
model's own decode), so the token is drawn as llama.cpp's server does: the chain draws from
all candidates first and the grammar checks only that token; only when it refuses is the
whole vocabulary masked by the grammar and the draw made again (the mask comes before any
link that cuts candidates: a top-k cut first could leave no token the grammar allows). The
grammar and the chain then both accept the token.

A ``logit_bias`` is the chain's first link (llama.cpp's logit-bias sampler), as in llama.cpp's
server. Plain greedy decoding (temperature 0, no penalty, no grammar, no bias) skips the
chain: it would fill a candidate array for the whole vocabulary (128k-262k entries) on every
token only to keep the largest. An argmax over a view of llama.cpp's own logits buffer (no
copy) picks the same token (the first of equal maxima, as llama.cpp's greedy sampler does) in
a fraction of the time. A chain that cuts to the top k (or a greedy one after a repetition
penalty) is handed only the tokens that can survive that cut (:mod:`.top_candidates`; not
with a bias, which can lift any token), not the whole
vocabulary. Runs only in the worker child.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from desktop.engine.worker.logits_rows import LogitsRows
from desktop.engine.worker.settings import SamplingSettings
from desktop.engine.worker.top_candidates import TopCandidates

#: How many recent tokens the repetition penalty looks at (llama-cpp-python's default).
PENALTY_LAST_TOKENS = 64
#: llama.cpp's ``llama_token_data`` (id, logit, probability), for candidate arrays.
_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


class SamplerChain:
    """A native ``llama_sampler`` chain; :meth:`close` frees it (the chain frees its links)."""

    def __init__(self, settings: SamplingSettings, *, n_vocab: int, grammar: Any = None) -> None:
        """``grammar``: a grammar sampler (see ``reply_format.grammar_sampler``), taken over
        and freed with the chain."""
        import llama_cpp

        self._llama_cpp = llama_cpp
        self.pointer: Any = None
        self._gate: _GrammarGate | None = None
        self._top: TopCandidates | None = None
        self._closed = False
        self._argmax_only = (
            settings.temperature == 0
            and settings.repeat_penalty == 1.0
            and grammar is None
            and not settings.logit_bias
        )
        if self._argmax_only:
            return
        self.pointer = llama_cpp.llama_sampler_chain_init(
            llama_cpp.llama_sampler_chain_default_params()
        )
        for link in _links(llama_cpp, settings, n_vocab):
            llama_cpp.llama_sampler_chain_add(self.pointer, link)
        if grammar is not None:
            self._gate = _GrammarGate(llama_cpp, self.pointer, grammar, n_vocab)
            return
        keep = settings.top_k if settings.temperature > 0 else 1
        recent = PENALTY_LAST_TOKENS if settings.repeat_penalty != 1.0 else 0
        # A bias can lift a token from anywhere in the vocabulary: no cut before the chain.
        if not settings.logit_bias and TopCandidates.worthwhile(n_vocab, keep=keep, recent=recent):
            self._top = TopCandidates(n_vocab, keep=keep, recent=recent)
            self._top_array = llama_cpp.llama_token_data_array()

    @property
    def plain_greedy(self) -> bool:
        """Whether the token is the largest logit and nothing else (no chain, no grammar):
        a draw that llama.cpp can make on the device as part of the decode."""
        return self._argmax_only

    @property
    def native(self) -> bool:
        """Whether the token is drawn inside llama.cpp alone (``llama_sampler_sample``, which
        releases the GIL: such draws for several replies can run on several threads)."""
        return not self._argmax_only and self._gate is None

    def sample(self, logits: LogitsRows, row: int) -> int:
        """The next token from the logits of batch row ``row`` (accepted into the chain)."""
        if self._closed:  # a freed native chain would crash the process
            raise RuntimeError("A token was drawn for a reply that has ended.")
        if self._top is not None:
            return self._sample_top(logits, row, self._top)
        if self.native:
            return int(self._llama_cpp.llama_sampler_sample(self.pointer, logits.ctx, row))
        view = logits.row(row)
        if self._gate is not None:
            return self._gate.sample(view)
        return int(view.argmax())

    def _sample_top(self, logits: LogitsRows, row: int, top: TopCandidates) -> int:
        """The chain's draw among the tokens that can pass its top-k cut (numpy and
        ``llama_sampler_apply`` release the GIL for their work, as the whole-vocabulary draw)."""
        view = logits.row(row)
        ids = top.ids(view)
        if ids is None:
            token = int(self._llama_cpp.llama_sampler_sample(self.pointer, logits.ctx, row))
        else:
            data = np.empty(len(ids), dtype=_TOKEN_DATA)
            data["id"] = ids
            data["logit"] = view[ids]
            data["p"] = 0.0
            candidates = _over(self._llama_cpp, self._top_array, data)
            self._llama_cpp.llama_sampler_apply(self.pointer, ctypes.byref(candidates))
            token = int(candidates.data[candidates.selected].id)
            self._llama_cpp.llama_sampler_accept(self.pointer, token)
        top.accepted(token)
        return token

    def close(self) -> None:
        self._closed = True
        if self._gate is not None:
            gate, self._gate = self._gate, None
            self._llama_cpp.llama_sampler_free(gate.grammar)
        if self.pointer is not None:
            pointer, self.pointer = self.pointer, None
            self._llama_cpp.llama_sampler_free(pointer)


class _GrammarGate:
    """Draws a token with the chain under a grammar: the grammar masks the whole vocabulary
    only when it refuses the token drawn without it (see the module's notes)."""

    def __init__(self, llama_cpp: Any, chain: Any, grammar: Any, n_vocab: int) -> None:
        self._c = llama_cpp
        self._chain = chain
        self.grammar = grammar
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._all = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._one = np.zeros(1, dtype=_TOKEN_DATA)
        self._candidates = llama_cpp.llama_token_data_array()
        self._single = llama_cpp.llama_token_data_array()

    def sample(self, logits: Any) -> int:
        token = self._draw(logits, masked=False)
        self._one[0] = (token, 1.0, 0.0)
        single = _over(self._c, self._single, self._one)
        self._c.llama_sampler_apply(self.grammar, ctypes.byref(single))
        if not np.isfinite(self._one[0]["logit"]):  # the grammar refuses it: draw again
            token = self._draw(logits, masked=True)
        self._c.llama_sampler_accept(self.grammar, token)
        self._c.llama_sampler_accept(self._chain, token)
        return token

    def _draw(self, logits: Any, *, masked: bool) -> int:
        data = self._all
        data["id"] = self._ids
        data["logit"] = logits
        data["p"] = 0.0
        candidates = _over(self._c, self._candidates, data)
        if masked:
            self._c.llama_sampler_apply(self.grammar, ctypes.byref(candidates))
        self._c.llama_sampler_apply(self._chain, ctypes.byref(candidates))
        return int(candidates.data[candidates.selected].id)


def _over(llama_cpp: Any, candidates: Any, data: Any) -> Any:
    """``candidates`` (a ``llama_token_data_array``) over all of ``data``, unsorted, nothing
    selected."""
    candidates.data = ctypes.cast(data.ctypes.data, llama_cpp.llama_token_data_p)
    candidates.size = len(data)
    candidates.selected = -1
    candidates.sorted = False
    return candidates


def _links(llama_cpp: Any, settings: SamplingSettings, n_vocab: int) -> list[Any]:
    links = []
    if settings.logit_bias:
        biases = (llama_cpp.llama_logit_bias * len(settings.logit_bias))(
            *(llama_cpp.llama_logit_bias(token, bias) for token, bias in settings.logit_bias)
        )
        links.append(
            llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(settings.logit_bias), biases)
        )
    if settings.repeat_penalty != 1.0:
        links.append(
            llama_cpp.llama_sampler_init_penalties(
                n_vocab, PENALTY_LAST_TOKENS, settings.repeat_penalty, 0.0, 0.0
            )
        )
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
