"""The JSON objects and server-sent events the endpoints answer with, in OpenAI's shapes.

Chat replies are ``chat.completion`` objects (streamed: ``chat.completion.chunk`` with a
``delta``); completions are ``text_completion`` objects whether streamed or not, as OpenAI
sends them. A stream ends with a chunk carrying ``finish_reason`` and then ``data: [DONE]``.
Every object carries the ``system_fingerprint`` of the loaded model and settings; usage says
how many prompt tokens came from the cache (``prompt_tokens_details.cached_tokens``).
Log-probabilities, when asked for, take chat's shape (``logprobs.content``: token, logprob,
bytes, top_logprobs) or the completions' legacy one (parallel lists of tokens, their
log-probabilities, the alternatives and the text offsets).
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from desktop.engine.server.parsing import ReplyKind
from desktop.engine.server.tool_calls import ToolCall
from desktop.engine.worker import ReplyStats, StopReason, TokenLogprobs, TokenProbability

SSE_DONE = b"data: [DONE]\n\n"

#: Why the worker stopped → OpenAI's finish_reason ("stop": the model or a stop string ended
#: the reply; "length": the token budget or the context ran out).
FINISH_REASONS = {
    StopReason.EOS: "stop",
    StopReason.MAX_TOKENS: "length",
    StopReason.CONTEXT_FULL: "length",
    StopReason.CANCELLED: "stop",
}


@dataclass(frozen=True, slots=True)
class ReplyIdentity:
    """What every object of one reply repeats: its id, creation time, model and fingerprint;
    and whether it carries log-probabilities."""

    kind: ReplyKind
    id: str
    created: int
    model: str
    fingerprint: str
    logprobs: bool = False

    @classmethod
    def new(
        cls, kind: ReplyKind, model: str, fingerprint: str, *, logprobs: bool = False
    ) -> ReplyIdentity:
        prefix = "chatcmpl" if kind is ReplyKind.CHAT else "cmpl"
        return cls(
            kind,
            f"{prefix}-{secrets.token_hex(12)}",
            int(time.time()),
            model,
            fingerprint,
            logprobs,
        )

    def head(self, object_name: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": object_name,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.fingerprint,
        }


def model_object(model_id: str, created: int) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "quantdesk"}


def models_list(models: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """``models``: ``(id, created)`` pairs, the loaded model first."""
    return {"object": "list", "data": [model_object(*model) for model in models]}


def tokens_answer(tokens: Sequence[int], pieces: Sequence[bytes] | None) -> dict[str, Any]:
    """llama-server's ``/tokenize`` answer: the ids, or with ``pieces`` ids and the text each
    spells (a list of byte values where a piece is not whole UTF-8)."""
    if pieces is None:
        return {"tokens": list(tokens)}
    return {
        "tokens": [
            {"id": token, "piece": _piece_text(piece)}
            for token, piece in zip(tokens, pieces, strict=True)
        ]
    }


def embeddings_answer(
    model: str, vectors: Sequence[bytes], tokens: int, encoding: str
) -> dict[str, Any]:
    """OpenAI's embeddings list: each vector (little-endian float32 bytes) as numbers, or as
    base64 text of those bytes when ``encoding`` is ``base64``."""
    data = [
        {"object": "embedding", "index": index, "embedding": _vector(vector, encoding)}
        for index, vector in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _vector(vector: bytes, encoding: str) -> str | list[float]:
    if encoding == "base64":
        return base64.b64encode(vector).decode("ascii")
    return vector_floats(vector)


def vector_floats(vector: bytes) -> list[float]:
    """A vector's little-endian float32 bytes as numbers."""
    return list(struct.unpack(f"<{len(vector) // 4}f", vector))


def _piece_text(piece: bytes) -> str | list[int]:
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return list(piece)


@dataclass(frozen=True, slots=True)
class Choice:
    """One whole choice of a reply: its text, finish reason, log-probabilities and the tool
    calls it made."""

    text: str
    finish: str
    logprobs: Sequence[TokenLogprobs] = ()
    tool_calls: Sequence[ToolCall] = ()
    #: A reasoning model's thinking, given apart (chat: ``reasoning_content``).
    reasoning: str = ""


def usage(stats: Sequence[ReplyStats]) -> dict[str, Any]:
    """Token counts of a reply's choices: the prompt once (as read for the first choice),
    the generated tokens of all of them."""
    prompt = stats[0].prompt_tokens
    generated = sum(choice.generated_tokens for choice in stats)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": generated,
        "total_tokens": prompt + generated,
        "prompt_tokens_details": {"cached_tokens": stats[0].cached_prompt_tokens},
    }


def whole_reply(
    reply: ReplyIdentity, choices: Sequence[Choice], stats: Sequence[ReplyStats]
) -> dict[str, Any]:
    """The non-streamed answer: every choice with all its text, and the token usage."""
    if reply.kind is ReplyKind.CHAT:
        head = reply.head("chat.completion")
    else:
        head = reply.head("text_completion")
    return {
        **head,
        "choices": [_whole_choice(reply, index, choice) for index, choice in enumerate(choices)],
        **_usage(stats),
    }


def _whole_choice(reply: ReplyIdentity, index: int, choice: Choice) -> dict[str, Any]:
    if reply.kind is ReplyKind.CHAT:
        message: dict[str, Any] = {"role": "assistant", "content": choice.text}
        if choice.reasoning:
            message["reasoning_content"] = choice.reasoning
        if choice.tool_calls:  # as OpenAI answers: no content beside the calls is null
            message["content"] = choice.text or None
            message["tool_calls"] = [call.as_openai() for call in choice.tool_calls]
        body: dict[str, Any] = {"message": message}
    else:
        body = {"text": choice.text}
    body["logprobs"] = _logprobs(reply, choice.logprobs, 0)
    return {"index": index, **body, "finish_reason": choice.finish}


def _usage(stats: Sequence[ReplyStats]) -> dict[str, Any]:
    return {"usage": usage(stats)}


def chunk(
    reply: ReplyIdentity,
    text: str = "",
    *,
    first: bool = False,
    finish: str | None = None,
    logprobs: Sequence[TokenLogprobs] = (),
    text_offset: int = 0,
    index: int = 0,
    reasoning: str = "",
) -> dict[str, Any]:
    """One streamed piece of choice ``index``: chat chunks carry a ``delta`` (the first one
    the role; ``reasoning``: a piece of thinking, as ``reasoning_content``).

    ``text_offset``: where this piece starts in the reply (completions' log-probabilities
    give each token's offset)."""
    if reply.kind is ReplyKind.CHAT:
        delta: dict[str, str] = {"role": "assistant"} if first else {}
        if reasoning:
            delta["reasoning_content"] = reasoning
        elif text or (first and finish is None):
            delta["content"] = text
        choice: dict[str, Any] = {"delta": delta}
        head = reply.head("chat.completion.chunk")
    else:
        choice = {"text": text}
        head = reply.head("text_completion")
    choice["logprobs"] = None if first else _logprobs(reply, logprobs, text_offset)
    return {**head, "choices": [{"index": index, **choice, "finish_reason": finish}]}


def tool_calls_chunk(
    reply: ReplyIdentity, calls: Sequence[ToolCall], index: int = 0
) -> dict[str, Any]:
    """A streamed chat choice's calls, each whole in one delta (OpenAI's clients join the
    pieces of a call by its ``index``, and take it whole as well)."""
    delta = {"tool_calls": [call.as_openai(number) for number, call in enumerate(calls)]}
    return {
        **reply.head("chat.completion.chunk"),
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}],
    }


def _logprobs(
    reply: ReplyIdentity, entries: Sequence[TokenLogprobs], text_offset: int
) -> dict[str, Any] | None:
    if not reply.logprobs:
        return None
    if reply.kind is ReplyKind.CHAT:
        content = [
            {**_token(entry.chosen), "top_logprobs": [_token(top) for top in entry.top]}
            for entry in entries
        ]
        return {"content": content, "refusal": None}
    tokens = [_token_text(entry.chosen) for entry in entries]
    offsets = []
    for token in tokens:
        offsets.append(text_offset)
        text_offset += len(token)
    return {
        "tokens": tokens,
        "token_logprobs": [entry.chosen.logprob for entry in entries],
        "top_logprobs": [{_token_text(t): t.logprob for t in entry.top} for entry in entries],
        "text_offset": offsets,
    }


def _token(probability: TokenProbability) -> dict[str, Any]:
    return {
        "token": _token_text(probability),
        "logprob": probability.logprob,
        "bytes": list(probability.piece),
    }


def _token_text(probability: TokenProbability) -> str:
    """A token's text; a token holding part of a character shows U+FFFD (its ``bytes`` are
    exact)."""
    return probability.piece.decode("utf-8", errors="replace")


def usage_chunk(reply: ReplyIdentity, stats: Sequence[ReplyStats]) -> dict[str, Any]:
    """The extra last chunk asked for with ``stream_options: {include_usage: true}``."""
    object_name = "chat.completion.chunk" if reply.kind is ReplyKind.CHAT else "text_completion"
    return {**reply.head(object_name), "choices": [], **_usage(stats)}


def sse_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n\n"


def curl_example(url: str, model_id: str | None = None, line_break: str = " ") -> str:
    """A request a person can paste into a terminal to check the server answers."""
    body: dict[str, Any] = {"model": model_id} if model_id else {}
    body["messages"] = [{"role": "user", "content": "Hello!"}]
    return line_break.join(
        (
            f"curl {url}/chat/completions",
            '-H "Content-Type: application/json"',
            f"-d '{json.dumps(body)}'",
        )
    )
