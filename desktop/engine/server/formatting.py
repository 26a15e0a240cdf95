"""The JSON objects and server-sent events the endpoints answer with, in OpenAI's shapes.

Chat replies are ``chat.completion`` objects (streamed: ``chat.completion.chunk`` with a
``delta``); completions are ``text_completion`` objects whether streamed or not, as OpenAI
sends them. A stream ends with a chunk carrying ``finish_reason`` and then ``data: [DONE]``.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from desktop.engine.server.parsing import ReplyKind
from desktop.engine.worker import ReplyStats, StopReason

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
    """What every object of one reply repeats: its id, creation time and model."""

    kind: ReplyKind
    id: str
    created: int
    model: str

    @classmethod
    def new(cls, kind: ReplyKind, model: str) -> ReplyIdentity:
        prefix = "chatcmpl" if kind is ReplyKind.CHAT else "cmpl"
        return cls(kind, f"{prefix}-{secrets.token_hex(12)}", int(time.time()), model)

    def head(self, object_name: str) -> dict[str, Any]:
        return {"id": self.id, "object": object_name, "created": self.created, "model": self.model}


def model_object(model_id: str, created: int) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "quantdesk"}


def models_list(model_id: str, created: int) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(model_id, created)]}


def usage(stats: ReplyStats) -> dict[str, int]:
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.generated_tokens,
        "total_tokens": stats.prompt_tokens + stats.generated_tokens,
    }


def whole_reply(reply: ReplyIdentity, text: str, finish: str, stats: ReplyStats) -> dict[str, Any]:
    """The non-streamed answer: one choice with all the text, and the token usage."""
    if reply.kind is ReplyKind.CHAT:
        choice: dict[str, Any] = {"message": {"role": "assistant", "content": text}}
        head = reply.head("chat.completion")
    else:
        choice = {"text": text, "logprobs": None}
        head = reply.head("text_completion")
    return {**head, "choices": [{"index": 0, **choice, "finish_reason": finish}], **_usage(stats)}


def _usage(stats: ReplyStats) -> dict[str, Any]:
    return {"usage": usage(stats)}


def chunk(
    reply: ReplyIdentity, text: str = "", *, first: bool = False, finish: str | None = None
) -> dict[str, Any]:
    """One streamed piece: chat chunks carry a ``delta`` (the first one the role)."""
    if reply.kind is ReplyKind.CHAT:
        delta: dict[str, str] = {"role": "assistant"} if first else {}
        if text or (first and finish is None):
            delta["content"] = text
        choice: dict[str, Any] = {"delta": delta}
        head = reply.head("chat.completion.chunk")
    else:
        choice = {"text": text, "logprobs": None}
        head = reply.head("text_completion")
    return {**head, "choices": [{"index": 0, **choice, "finish_reason": finish}]}


def usage_chunk(reply: ReplyIdentity, stats: ReplyStats) -> dict[str, Any]:
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
