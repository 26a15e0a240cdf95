"""Token ids → streamed text: UTF-8 split across byte tokens, and stop strings split across
pieces, checked with llama.cpp's own tokenizer of the tiny model (vocabulary only, no weights
are run, so it is safe in the test process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llama_cpp
import pytest

from desktop.engine.llama_loading import open_llama
from desktop.engine.worker.chat_format import CHATML_STOP_STRINGS
from desktop.engine.worker.generation import TextStream, TokenPieces, media_placeholder_tokens
from tests.support import worker_helpers

tiny_model = worker_helpers.tiny_model


@pytest.fixture(scope="module")
def vocab_llama(tiny_model: Path) -> Iterator[Any]:
    llama = open_llama(tiny_model, vocab_only=True)
    yield llama
    llama.close()


def stream_text(
    llama: Any, text: str, stop_strings: tuple[str, ...] = ()
) -> tuple[list[str], TextStream]:
    tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    stream = TextStream(TokenPieces(llama_cpp.llama_model_get_vocab(llama.model)), stop_strings)
    pieces = []
    for token in tokens:
        pieces.append(stream.push(token))
        if stream.stopped:
            break
    pieces.append(stream.flush())
    return [piece for piece in pieces if piece], stream


def test_multibyte_characters_split_over_byte_tokens_come_out_whole(vocab_llama: Any) -> None:
    text = "héllo wörld ✓"
    tokens = vocab_llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    assert len(tokens) > len(text)  # the tiny vocabulary spells é, ö and ✓ in byte tokens
    pieces, _stream = stream_text(vocab_llama, text)
    assert len(pieces) < len(tokens)  # the bytes of one character wait for each other
    assert "".join(pieces) == vocab_llama.detokenize(tokens).decode("utf-8")


def test_a_stop_string_spelled_over_many_tokens_ends_the_text_before_it(vocab_llama: Any) -> None:
    pieces, stream = stream_text(vocab_llama, "ab<|im_end|>cd", CHATML_STOP_STRINGS)
    assert stream.stopped
    assert "".join(pieces).strip() == "ab"
    assert not any("<" in piece for piece in pieces)  # the partial stop string was held back


def test_held_back_text_is_released_when_no_stop_string_follows(vocab_llama: Any) -> None:
    pieces, stream = stream_text(vocab_llama, "ab<|im", CHATML_STOP_STRINGS)
    assert not stream.stopped
    assert "".join(pieces).strip() == "ab<|im"


def test_the_reply_counts_only_the_tokens_of_the_text_shown(vocab_llama: Any) -> None:
    """Tokens that only spelled a stop string are not the reply's: the count matches the text."""
    shown = vocab_llama.tokenize(b"ab cd", add_bos=False, special=False)
    plain, unstopped = stream_text(vocab_llama, "ab cd", CHATML_STOP_STRINGS)
    assert not unstopped.stopped and unstopped.reply_tokens == len(shown)
    pieces, stream = stream_text(vocab_llama, "ab cd<|im_end|> more", CHATML_STOP_STRINGS)
    assert stream.stopped and "".join(pieces) == "".join(plain)
    assert stream.reply_tokens == len(shown)


def test_media_placeholders_of_a_real_model_do_not_print_as_text(real_gemma_gguf: Path) -> None:
    """Gemma 3's GGUF stores <start_of_image> as a user-defined token, which llama.cpp spells
    out; a text reply (seen in text completion) must not show it, nor lose the text around."""
    llama = open_llama(real_gemma_gguf, vocab_only=True)
    try:
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        hidden = media_placeholder_tokens(vocab)
        start, end = (
            llama.tokenize(text.encode(), add_bos=False, special=True)
            for text in ("<start_of_image>", "<end_of_image>")
        )
        assert len(start) == len(end) == 1 and {start[0], end[0]} <= hidden
        newline = llama.tokenize(b"\n\n", add_bos=False, special=True)  # user-defined too
        assert not set(newline) & hidden
        tokens = llama.tokenize(
            b"A picture:<start_of_image><end_of_image>\n\nThe end.", add_bos=False, special=True
        )
        stream = TextStream(TokenPieces(vocab), (), hidden)
        text = "".join(stream.push(token) for token in tokens) + stream.flush()
        assert text == "A picture:\n\nThe end."
        assert stream.reply_tokens == len(tokens)
    finally:
        llama.close()


def test_streamed_pieces_are_batched_but_the_first_goes_at_once() -> None:
    """The child sends the first piece immediately and then at most every interval."""
    from desktop.engine.worker.child import CoalescedStream
    from desktop.engine.worker.protocol import StreamedText

    sent: list[StreamedText] = []
    stream = CoalescedStream(sent.append, interval=3600.0)
    stream("Hel")
    assert sent == [StreamedText("Hel", 1)]  # time to first token is not delayed
    for piece in ("lo", ", ", "wor", "ld"):
        stream(piece)
    assert len(sent) == 1  # held back within the interval
    stream.flush()
    assert sent == [StreamedText("Hel", 1), StreamedText("lo, world", 4)]
    stream.flush()
    assert len(sent) == 2  # nothing pending: nothing sent

    every_time: list[StreamedText] = []
    unbatched = CoalescedStream(every_time.append, interval=0.0)
    for piece in "abc":
        unbatched(piece)
    assert [event.text for event in every_time] == ["a", "b", "c"]
