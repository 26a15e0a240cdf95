"""Text in and out of the worker child's decode loop: prompt → tokens, tokens → text pieces.

Per-token work is kept to a C call for the piece and an incremental UTF-8 decode (a
character split over two tokens comes out whole with the second);
``create_completion`` re-detokenizes the whole reply at every token instead.
"""

from __future__ import annotations

import bisect
import codecs
import ctypes
from collections.abc import Callable
from typing import Any

from converter.errors import QuantdeskError
from desktop.engine.worker.protocol import GenerateRequest
from desktop.engine.worker.stop_strings import StopCutter

#: Tokens that stand for a picture or a sound in multimodal models. Some GGUFs store them as
#: user-defined tokens, which llama.cpp spells out as text; in a text-only reply they mean
#: nothing (Hugging Face's tokenizers mark them special and skip them when decoding).
MEDIA_PLACEHOLDER_TEXTS: tuple[str, ...] = (
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
    "<start_of_audio>",
    "<end_of_audio>",
    "<audio_soft_token>",
    "<image>",
    "<|image|>",
    "<|image_pad|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|video_pad|>",
    "<|audio|>",
)


def media_placeholder_tokens(vocab: Any) -> frozenset[int]:
    """The ids of this vocabulary's media placeholders that would otherwise print as text."""
    import llama_cpp

    found = set()
    ids = (llama_cpp.llama_token * 4)()
    buffer = ctypes.create_string_buffer(64)
    for text in MEDIA_PLACEHOLDER_TEXTS:
        raw = text.encode()
        if llama_cpp.llama_tokenize(vocab, raw, len(raw), ids, 4, False, True) != 1:
            continue
        n = llama_cpp.llama_token_to_piece(vocab, ids[0], buffer, len(buffer), 0, False)
        if buffer.raw[: max(n, 0)] == raw:
            found.add(int(ids[0]))
    return frozenset(found)


class TokenPieces:
    """Token id → the bytes llama.cpp spells it with (control tokens spell nothing).

    Each token's piece is asked of llama.cpp once and remembered: the decode loop spells
    every drawn token between two decodes on the CPU, where a C call right after a decode
    (its caches full of weights) costs several µs and a dict lookup well under one.
    """

    def __init__(self, vocab: Any) -> None:
        import llama_cpp

        self._token_to_piece = llama_cpp.llama_token_to_piece
        self._vocab = vocab
        self._buffer = ctypes.create_string_buffer(256)
        self._known: dict[int, bytes] = {}

    def __call__(self, token: int) -> bytes:
        piece = self._known.get(token)
        if piece is None:
            piece = self._known[token] = self._spell(token)
        return piece

    def _spell(self, token: int) -> bytes:
        n = self._token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
        if n < 0:  # the piece is longer than the buffer: grow it once
            self._buffer = ctypes.create_string_buffer(-n)
            n = self._token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
        return self._buffer.raw[:n]


class TextStream:
    """Token ids → text pieces: joins split UTF-8 sequences, holds back possible stop strings,
    leaves out media placeholders."""

    def __init__(
        self,
        pieces: TokenPieces,
        stop_strings: tuple[str, ...],
        hidden: frozenset[int] = frozenset(),
    ) -> None:
        self._piece_bytes = pieces
        self._hidden = hidden
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._cutter = StopCutter(stop_strings)
        self._chars_after_token: list[int] = []  # characters decoded once each token was in
        self._decoded_chars = 0
        self._shown_chars = 0

    @property
    def stopped(self) -> bool:
        """A stop string has appeared: nothing after it is part of the reply."""
        return self._cutter.stopped

    def push(self, token: int) -> str:
        """The text that is now certain to be part of the reply (may be empty)."""
        decoded = "" if token in self._hidden else self._decoder.decode(self._piece_bytes(token))
        self._decoded_chars += len(decoded)
        self._chars_after_token.append(self._decoded_chars)
        return self._shown(self._cutter.push(decoded))

    def flush(self) -> str:
        """What is left at the end: held-back text and any incomplete UTF-8 sequence."""
        tail = self._decoder.decode(b"", final=True)
        self._decoded_chars += len(tail)
        if self._chars_after_token:
            self._chars_after_token[-1] = self._decoded_chars
        return self._shown(self._cutter.push(tail) + self._cutter.finish())

    def _shown(self, text: str) -> str:
        self._shown_chars += len(text)
        return text

    @property
    def shown_tokens(self) -> int:
        """Tokens whose text has been given out in full so far."""
        return bisect.bisect_right(self._chars_after_token, self._shown_chars)

    @property
    def reply_tokens(self) -> int:
        """Tokens that make up the reply: those that only spelled a cut-off stop string don't
        count, so the figure matches the text a person sees."""
        if not self.stopped:
            return len(self._chars_after_token)
        if self._shown_chars == 0:
            return 0
        return bisect.bisect_left(self._chars_after_token, self._shown_chars) + 1


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
