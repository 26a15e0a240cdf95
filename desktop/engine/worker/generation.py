"""Text in and out of the worker child's decode loop: prompt → tokens, tokens → text pieces.

Per-token work is kept to a C call for the piece and an incremental UTF-8 decode (a
character split over two tokens comes out whole with the second);
``create_completion`` re-detokenizes the whole reply at every token instead.
"""

from __future__ import annotations

import codecs
import ctypes
from collections.abc import Callable
from typing import Any

from converter.errors import QuantdeskError
from desktop.engine.worker.protocol import GenerateRequest
from desktop.engine.worker.stop_strings import StopCutter


class TextStream:
    """Token ids → text pieces: joins split UTF-8 sequences, holds back possible stop strings."""

    def __init__(self, vocab: Any, stop_strings: tuple[str, ...]) -> None:
        import llama_cpp

        self._token_to_piece = llama_cpp.llama_token_to_piece
        self._vocab = vocab
        self._buffer = ctypes.create_string_buffer(256)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._cutter = StopCutter(stop_strings)

    @property
    def stopped(self) -> bool:
        """A stop string has appeared: nothing after it is part of the reply."""
        return self._cutter.stopped

    def _piece_bytes(self, token: int) -> bytes:
        n = self._token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
        if n < 0:  # the piece is longer than the buffer: grow it once
            self._buffer = ctypes.create_string_buffer(-n)
            n = self._token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
        return self._buffer.raw[:n]

    def push(self, token: int) -> str:
        """The text that is now certain to be part of the reply (may be empty)."""
        return self._cutter.push(self._decoder.decode(self._piece_bytes(token)))

    def flush(self) -> str:
        """What is left at the end: held-back text and any incomplete UTF-8 sequence."""
        return self._cutter.push(self._decoder.decode(b"", final=True)) + self._cutter.finish()


class PromptAbort:
    """Lets cancel interrupt a long prompt evaluation inside llama_decode.

    Armed only while the prompt is evaluated: llama.cpp calls it between graph nodes, a cost
    worth paying for a big batch but not for every generated token.
    """

    def __init__(self, llama: Any, cancelled: Callable[[], bool]) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._ctx = llama.ctx
        self._callback = llama_cpp.ggml_abort_callback(lambda _data: cancelled())

    def arm(self) -> None:
        self._llama_cpp.llama_set_abort_callback(self._ctx, self._callback, None)

    def disarm(self) -> None:
        self._llama_cpp.llama_set_abort_callback(
            self._ctx, self._llama_cpp.ggml_abort_callback(0), None
        )


def tokenize_prompt(llama: Any, vocab: Any, request: GenerateRequest) -> list[int]:
    """Add BOS when the model wants one and the rendered template did not already write it."""
    import llama_cpp

    bos = llama.token_bos()
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab)) and bos >= 0
    tokens = llama.tokenize(
        request.prompt.encode("utf-8"), add_bos=False, special=request.parse_special
    )
    if add_bos and (not tokens or tokens[0] != bos):
        tokens.insert(0, bos)
    if not tokens:
        raise QuantdeskError("The prompt is empty: there is nothing to continue.")
    return tokens


def rate(count: int, seconds: float) -> float:
    return count / seconds if count > 0 and seconds > 0 else 0.0
