"""Messages between :class:`InferenceWorker` and its child process.

Requests go parent → child, events child → parent, all over one duplex pipe and all
picklable frozen dataclasses. Several replies can be under way at once, so everything about
a reply carries its ``request_id`` (0: loads and unloads). One reply is cancelled with a
:class:`CancelReply` message, read between decode steps; cancelling everything (and a load)
goes through a shared-memory flag, which llama.cpp's callbacks can read mid-call.
"""

from __future__ import annotations

from dataclasses import dataclass

from converter.errors import QuantdeskError, error_class_name, rebuild_error
from desktop.engine.worker.reply_format import FREE_TEXT, ReplyFormat
from desktop.engine.worker.results import LoadInfo, ReplyTimings, TokenLogprobs
from desktop.engine.worker.settings import LoadSettings, SamplingSettings


class PromptTooLong(QuantdeskError):
    """The prompt does not fit in the context the model was loaded with."""


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadRequest:
    path: str
    settings: LoadSettings


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """Continue ``prompt``. ``parse_special`` lets ``<|im_start|>``-style text become special
    tokens (rendered chat prompts); raw completions keep it off so user text stays text.
    ``logprobs`` asks for each generated token's log-probability and that many alternatives
    (None: none, and no work for them). ``reply_room``: a prompt that leaves fewer tokens of
    the context than this for the reply is refused as too long (the chat then sends less)."""

    prompt: str
    sampling: SamplingSettings
    parse_special: bool
    stop_strings: tuple[str, ...] = ()
    request_id: int = 0
    reply_format: ReplyFormat = FREE_TEXT
    logprobs: int | None = None
    reply_room: int = 1


@dataclass(frozen=True, slots=True)
class CancelReply:
    """End one reply at the next decode step, keeping its text so far."""

    request_id: int


@dataclass(frozen=True, slots=True)
class TokenizeRequest:
    """The loaded model's tokens for ``text``: ``add_special`` adds BOS where the model wants
    it, ``parse_special`` turns special-token text (``<start_of_turn>``) into those tokens."""

    text: str
    add_special: bool
    parse_special: bool
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    """The embeddings of ``texts`` with the loaded model (see ``embedding.py``)."""

    texts: tuple[str, ...]
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class DetokenizeRequest:
    """The text that ``tokens`` of the loaded model spell."""

    tokens: tuple[int, ...]
    request_id: int = 0


@dataclass(frozen=True, slots=True)
class UnloadRequest:
    pass


@dataclass(frozen=True, slots=True)
class ShutdownRequest:
    pass


Request = (
    LoadRequest
    | GenerateRequest
    | CancelReply
    | TokenizeRequest
    | DetokenizeRequest
    | UnloadRequest
    | ShutdownRequest
)


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamedText:
    """Reply text since the last event, and how many generated tokens produced it; with
    ``logprobs`` asked for, the figures of the tokens that spell that text."""

    text: str
    tokens: int
    request_id: int = 0
    logprobs: tuple[TokenLogprobs, ...] = ()


@dataclass(frozen=True, slots=True)
class Finished:
    """A reply has ended: its text and figures."""

    request_id: int
    timings: ReplyTimings


@dataclass(frozen=True, slots=True)
class TokenText:
    """The answer to a tokenize request (the tokens, and the bytes each spells) or to a
    detokenize request (the text)."""

    request_id: int
    tokens: tuple[int, ...] = ()
    pieces: tuple[bytes, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class Embedded:
    """The answer to an embed request: one unit-length vector per text (little-endian float32
    bytes), and the tokens read in all."""

    request_id: int
    vectors: tuple[bytes, ...]
    tokens: int


@dataclass(frozen=True, slots=True)
class LoadProgress:
    fraction: float


@dataclass(frozen=True, slots=True)
class Loaded:
    info: LoadInfo


@dataclass(frozen=True, slots=True)
class Unloaded:
    pass


@dataclass(frozen=True, slots=True)
class Failed:
    """The request failed with an error the child survived; ``error_type`` names its class."""

    error_type: str
    message: str
    request_id: int = 0


def failure_for(exc: BaseException, request_id: int = 0) -> Failed:
    """Describe an exception raised in the child so the parent can raise its twin."""
    if isinstance(exc, QuantdeskError):
        return Failed(error_class_name(type(exc)), str(exc), request_id)
    return Failed("", f"{type(exc).__name__}: {exc}", request_id)


def error_from(failure: Failed, what: str) -> QuantdeskError:
    """The exception to raise in the parent for a :class:`Failed` event."""
    return rebuild_error(failure.error_type, failure.message, what)
