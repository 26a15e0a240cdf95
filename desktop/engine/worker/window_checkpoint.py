"""A copy of one slot's sliding-window cells, so a prompt can go back before the window.

Sliding-window layers keep only the last window and a batch of each slot's cells (the worker
loads them as llama.cpp's server does). A reply longer than that pushes out the cells the end
of its prompt attended to, so asking again (regenerate, an edited last message, a next turn
whose shared prefix ends inside the reply) could only be answered by reading the whole
prompt again. As llama.cpp's server does with its context checkpoints, the decode loop copies
the slot's windowed cells just before the last chunk of each prompt is decoded; a later
prompt that shares at least that much puts them back (the full-attention layers still hold
every cell) and is read from there. Runs only in the worker child.
"""

from __future__ import annotations

import ctypes
from typing import Any

from converter.errors import QuantdeskError


class WindowCheckpoint:
    """One slot's sliding-window cells as they were before ``position`` (None: no copy)."""

    def __init__(self, llama_cpp: Any, ctx: Any, seq_id: int) -> None:
        self._c = llama_cpp
        self._ctx = ctx
        self._seq_id = seq_id
        self._flags = llama_cpp.LLAMA_STATE_SEQ_FLAGS_SWA_ONLY
        self._buffer: Any = None  # grown as needed, kept between copies
        self._size = 0
        self.position: int | None = None

    def save(self, position: int) -> None:
        """Copy the slot's windowed cells, which hold tokens before ``position`` (waits for
        a batch still being decoded)."""
        size = self._c.llama_state_seq_get_size_ext(self._ctx, self._seq_id, self._flags)
        if self._buffer is None or len(self._buffer) < size:
            self._buffer = (ctypes.c_uint8 * size)()
        written = self._c.llama_state_seq_get_data_ext(
            self._ctx, self._buffer, size, self._seq_id, self._flags
        )
        self.position, self._size = (position, written) if written else (None, 0)

    def save_and_settle(self, position: int) -> None:
        """:meth:`save`, then put the copy straight back: llama.cpp lays restored cells out
        afresh, so the chunk decoded next then meets the same layout as when a later prompt
        restores this copy and decodes that chunk again. Attention sums the cells in layout
        order, so the same prompt gives the same logits, and the same greedy text, both times.
        A copy that cannot be put back leaves the slot without its window: an error."""
        self.save(position)
        if self.position is not None and not self.restore():
            raise QuantdeskError(
                "llama.cpp could not put back the sliding-window part of the cache, so this "
                "reply was stopped. Send it again."
            )

    def restore(self) -> bool:
        """Put the copied cells back in place of the slot's windowed cells; False (and the
        copy dropped) when llama.cpp could not."""
        if self.position is None:
            return False
        read = self._c.llama_state_seq_set_data_ext(
            self._ctx, self._buffer, self._size, self._seq_id, self._flags
        )
        if not read:
            self.drop()
        return bool(read)

    def drop(self) -> None:
        """Forget the copy (the tokens before its position are no longer the slot's)."""
        self.position, self._size = None, 0
