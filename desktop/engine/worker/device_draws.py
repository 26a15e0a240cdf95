"""Greedy draws made by llama.cpp on the device, as part of the decode.

A plain greedy reply (temperature 0, no penalty, bias, grammar or log-probabilities) only needs
the largest logit. Drawn on the host, every token costs the copy of the whole logits row out of
the decode (from the GPU: 512 KB for a 128k vocabulary) and an argmax over it, while the device
waits: on an H200 the draw took 28 µs of a 3.75 ms Llama-3-8B Q4_K_M token. llama.cpp's
backend sampling (its ``llama_set_sampler``, experimental in this release, as llama-server's
``--backend-sampling``, off by default there too) adds the argmax to the decode's own graph for
the sequences that have a sampler attached; it copies out one token id, and no logits at all
when every output row of a batch is drawn so.

The decode loop uses this only when asked (``draw_on_device``), for now. On the CPU the graph
pads the logits into a copy and takes the argmax on one thread: on Gemma 3 270M with 2 threads
that made generation 6% slower than the host's argmax (docs/benchmarks.md). On a GPU it should
save the copy and the draw, but it has not been measured there yet, nor run on CUDA or Metal.

A sequence keeps its sampler between replies (attaching one makes llama.cpp re-plan its
graph), and loses it when a reply that needs the logits gets its slot. llama.cpp readies a
sampler chain for the device only once, so every attach gets a new chain. Runs only in the
worker child.
"""

from __future__ import annotations

from typing import Any

from converter.errors import QuantdeskError


class DeviceDraws:
    """The greedy samplers attached to a context's sequences; :meth:`close` frees them."""

    def __init__(self, ctx: Any, *, enabled: bool) -> None:
        import llama_cpp

        self._c = llama_cpp
        self._ctx = ctx
        self.enabled = enabled
        self._chains: dict[int, Any] = {}  # sequence id → its attached chain

    def use(self, seq_id: int, *, wanted: bool) -> bool:
        """Attach a greedy sampler to the sequence, or take it off; whether its next tokens
        are drawn on the device. A device that cannot take it turns the draws off for good."""
        wanted = wanted and self.enabled
        if wanted == (seq_id in self._chains):
            return wanted
        if not wanted:
            self._detach(seq_id)
            return False
        chain = self._c.llama_sampler_chain_init(self._c.llama_sampler_chain_default_params())
        self._c.llama_sampler_chain_add(chain, self._c.llama_sampler_init_greedy())
        if not self._c.llama_set_sampler(self._ctx, seq_id, chain):
            self._c.llama_sampler_free(chain)
            self.enabled = False
            return False
        self._chains[seq_id] = chain
        return True

    def token(self, row: int) -> int:
        """The token drawn for batch row ``row`` (waits for the decode to finish)."""
        token = int(self._c.llama_get_sampled_token_ith(self._ctx, row))
        if token < 0:
            raise QuantdeskError(f"llama.cpp drew no token on the device for batch row {row}.")
        return token

    def _detach(self, seq_id: int) -> None:
        chain = self._chains.pop(seq_id)
        self._c.llama_set_sampler(self._ctx, seq_id, None)
        self._c.llama_sampler_free(chain)

    def close(self) -> None:
        """Take every sampler off (no decode may be running)."""
        for seq_id in list(self._chains):
            self._detach(seq_id)
