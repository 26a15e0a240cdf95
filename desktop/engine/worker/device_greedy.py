"""Greedy tokens drawn on the GPU, inside the decode's own graph (llama.cpp's backend sampling).

A greedy reply needs only the argmax of each step's logits. Drawn on the host, that costs the
copy of a whole logits row out of the GPU (512 KB for Llama 3's 128k vocabulary) and a pass
over it, between two decodes, while the GPU waits. llama.cpp can instead attach a sampler
chain to a sequence (``llama_set_sampler``, the way its server does with ``--backend-sampling``):
the argmax is then part of the decode's graph, only the token comes back, and no logits are
copied for that sequence.

A chain can be attached once (llama.cpp initialises it for the device when it is attached),
so each attachment gets a new one; attaching or detaching makes llama.cpp lay out its compute
graph again at the next decode, so a sequence keeps its chain from one greedy reply to the
next and loses it only when a reply that needs the logits takes its slot. Runs only in the
worker child.
"""

from __future__ import annotations

from typing import Any


class DeviceGreedy:
    """Greedy chains attached to sequences of one llama.cpp context."""

    def __init__(self, ctx: Any) -> None:
        import llama_cpp

        self._c = llama_cpp
        self._ctx = ctx
        self._chains: dict[int, Any] = {}  # sequence id -> its attached chain

    def attached(self, seq_id: int) -> bool:
        return seq_id in self._chains

    def attach(self, seq_id: int) -> bool:
        """Draw ``seq_id``'s tokens on the device from its next decode on; False when
        llama.cpp cannot (the sequence's tokens are then drawn on the host as before)."""
        if seq_id in self._chains:
            return True
        c = self._c
        params = c.llama_sampler_chain_default_params()
        params.no_perf = True
        chain = c.llama_sampler_chain_init(params)
        c.llama_sampler_chain_add(chain, c.llama_sampler_init_greedy())
        if not c.llama_set_sampler(self._ctx, seq_id, chain):
            c.llama_sampler_free(chain)
            return False
        self._chains[seq_id] = chain
        return True

    def detach(self, seq_id: int) -> None:
        """Give ``seq_id``'s logits back to the host from its next decode on."""
        chain = self._chains.pop(seq_id, None)
        if chain is None:
            return
        # A decode queued on the GPU may still be using the chain's device tensors.
        self._c.llama_synchronize(self._ctx)
        self._c.llama_set_sampler(self._ctx, seq_id, None)
        self._c.llama_sampler_free(chain)

    def token(self, row: int) -> int:
        """The token drawn for batch row ``row`` (waits for the decode to finish)."""
        token = int(self._c.llama_get_sampled_token_ith(self._ctx, row))
        if token < 0:
            raise RuntimeError(f"llama.cpp drew no token on the device for batch row {row}.")
        return token

    def close(self) -> None:
        for seq_id in list(self._chains):
            self.detach(seq_id)
