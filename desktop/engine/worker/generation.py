"""The token loop that runs in the worker child: prompt → streamed text pieces → timings.

Built on ``Llama.generate`` (sampling chain in llama.cpp, and reuse of the KV cache for the
part of the prompt that matches the previous turn, which makes multi-turn chat cheap).
Per-token work is kept to a C call for the piece, an incremental UTF-8 decode and one pipe
write; ``create_completion`` re-detokenizes the whole reply at every token instead.
"""

from __future__ import annotations

import codecs
import ctypes
import time
from collections.abc import Callable
from typing import Any

from converter.errors import QuantdeskError
from desktop.engine.worker.protocol import GenerateRequest, PromptTooLong
from desktop.engine.worker.results import ReplyTimings, StopReason
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


class _PromptAbort:
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


def generate(
    llama: Any,
    request: GenerateRequest,
    *,
    cancelled: Callable[[], bool],
    send_piece: Callable[[str], None],
) -> ReplyTimings:
    """Continue the request's prompt, streaming text through ``send_piece``."""
    import llama_cpp

    started = time.perf_counter()
    sampling = request.sampling
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    prompt_tokens = _tokenize(llama, vocab, request)
    n_ctx = llama.n_ctx()
    if len(prompt_tokens) >= n_ctx:
        raise PromptTooLong(
            f"The conversation is {len(prompt_tokens)} tokens long, more than the model's "
            f"{n_ctx}-token context. Start a new chat or load the model with a larger context."
        )
    budget = min(sampling.max_tokens, n_ctx - len(prompt_tokens))
    reused = _reusable_prefix(llama, prompt_tokens)
    llama.set_seed(sampling.seed if sampling.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED)
    stream = TextStream(vocab, request.stop_strings)
    abort = _PromptAbort(llama, cancelled)
    tokens = llama.generate(
        prompt_tokens,
        temp=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        min_p=sampling.min_p,
        repeat_penalty=sampling.repeat_penalty,
        reset=True,
    )
    parts: list[str] = []
    sampled = generated = 0
    first_at = last_at = 0.0
    stop_reason = (
        StopReason.MAX_TOKENS if budget == sampling.max_tokens else StopReason.CONTEXT_FULL
    )
    abort.arm()
    try:
        for token in tokens:
            last_at = time.perf_counter()
            if sampled == 0:
                first_at = last_at
                abort.disarm()
            sampled += 1
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                stop_reason = StopReason.EOS
                break
            generated += 1
            piece = stream.push(token)
            if piece:
                parts.append(piece)
                send_piece(piece)
            if stream.stopped:
                stop_reason = StopReason.EOS
                break
            if generated >= budget:
                break
            if cancelled():
                stop_reason = StopReason.CANCELLED
                break
    except RuntimeError:  # llama_decode returned 2: aborted by the callback
        if not cancelled():
            raise
        stop_reason = StopReason.CANCELLED
    finally:
        abort.disarm()
        tokens.close()
    rest = stream.flush()
    if rest:
        parts.append(rest)
        send_piece(rest)
    finished = time.perf_counter()
    if sampled == 0:
        first_at = last_at = finished
    prompt_seconds = first_at - started
    return ReplyTimings(
        text="".join(parts),
        stop_reason=stop_reason,
        prompt_tokens=len(prompt_tokens),
        generated_tokens=generated,
        time_to_first_token_seconds=prompt_seconds,
        prompt_tokens_per_second=_rate(len(prompt_tokens) - reused, prompt_seconds),
        generation_tokens_per_second=_rate(sampled - 1, last_at - first_at),
        total_seconds=finished - started,
    )


def _tokenize(llama: Any, vocab: Any, request: GenerateRequest) -> list[int]:
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


def _reusable_prefix(llama: Any, prompt_tokens: list[int]) -> int:
    """How many prompt tokens are already in the KV cache from the previous reply."""
    cached = llama.n_tokens
    shared = 0
    for old, new in zip(llama.input_ids[:cached].tolist(), prompt_tokens, strict=False):
        if old != new:
            break
        shared += 1
    return min(shared, len(prompt_tokens) - 1)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if count > 0 and seconds > 0 else 0.0
