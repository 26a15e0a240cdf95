"""Views of a decoded batch's logits in llama.cpp's own buffer, one row at a time, no copy.

``numpy.ctypeslib.as_array`` over the pointer that llama-cpp-python's binding returns took
about 0.1 ms per call in the worker (the binding builds a ctypes pointer object, and
``as_array`` casts it to a new array type every time): 2.5% of a token's time on an H200,
where a Llama-3-8B Q4_K_M token takes 3.6 ms. Here the same C function is bound once more
with a plain address as its result, and the row is wrapped by a cached array type: about
1 µs. Right after a CPU decode, with the caches full of weights, wrapping took some 20 µs
more; a generating reply reads the same row of the same buffer at every step, so the view
of each address is kept and handed out again. Runs only in the worker child.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

#: Views kept (one per row address seen); more rows than this start the collection over.
_KEPT_VIEWS = 256


class LogitsRows:
    """The logits of batch rows of one llama.cpp context, as float32 views of its buffer.

    A view is valid until the next ``llama_decode`` on the context: read it, do not keep it.
    """

    def __init__(self, ctx: Any, n_vocab: int) -> None:
        import llama_cpp

        prototype = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32)
        # A second binding of the same symbol: changing the result type of llama-cpp-python's
        # own function object would change it for every other caller.
        self._address_of = prototype(("llama_get_logits_ith", llama_cpp.llama_cpp._lib))
        self.ctx = ctx
        self.n_vocab = n_vocab
        self._row_type = ctypes.c_float * n_vocab
        self._views: dict[int, np.ndarray] = {}

    def row(self, row: int) -> np.ndarray:
        """Row ``row``'s logits (-1: the last row); waits for the decode to finish first.

        The view is read-only: the same object may be handed out for the same row again."""
        address = self._address_of(self.ctx, row)
        if not address:
            raise IndexError(f"The decoded batch has no logits for row {row}.")
        view = self._views.get(address)
        if view is None:
            if len(self._views) >= _KEPT_VIEWS:
                self._views.clear()
            view = np.frombuffer(memoryview(self._row_type.from_address(address)), np.float32)
            self._views[address] = view
        return view
