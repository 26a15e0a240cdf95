"""Anthropic's Messages API beside OpenAI's: ``POST /v1/messages`` and
``POST /v1/messages/count_tokens``, so Anthropic's SDKs and the tools built on them (Claude
Code among them, with ``ANTHROPIC_BASE_URL``) run on a local model.

A reply is a ``message`` whose ``content`` holds a ``text`` block and, when the model called
tools, ``tool_use`` blocks (``input`` an object); when the request enables ``thinking``, a
reasoning model's thinking comes first, as a ``thinking`` block (streamed as
``thinking_delta``); ``stop_reason`` is ``end_turn``,
``max_tokens`` or ``tool_use``. Streamed, it comes as Anthropic's named server-sent events:
``message_start``, then each block's ``content_block_start`` / ``_delta`` / ``_stop``
(``text_delta``; a call's input whole in one ``input_json_delta``), ``message_delta`` with the
stop reason and usage, ``message_stop``. Errors are Anthropic's
``{"type": "error", "error": {"type", "message"}}``, mid-stream as an ``error`` event. The
request is checked by the same parser as OpenAI's (``anthropic_request``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from desktop.engine.server.anthropic_request import openai_body, parse_messages
from desktop.engine.server.api_errors import ApiError, ClientGone, as_api_error
from desktop.engine.server.model_service import ReplyEnd, TextPiece
from desktop.engine.server.parsing import parse_chat, parse_json_body
from desktop.engine.server.request_body import model_name, read_body
from desktop.engine.server.running_reply import FrontEnd, RunningReply
from desktop.engine.server.tool_calls import ToolCall

#: OpenAI's finish reason → Anthropic's stop reason.
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
#: HTTP status → Anthropic's error type.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    503: "overloaded_error",
}


def anthropic_error(exc: ApiError | ClientGone) -> Response:
    if isinstance(exc, ClientGone):
        return Response(status_code=499)
    return JSONResponse(_error_body(exc), status_code=exc.status)


def _error_body(exc: ApiError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(exc.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


class AnthropicApi(FrontEnd):
    """The Messages route handlers, on the same service and reply threads as OpenAI's."""

    def routes(self) -> list[Route]:
        routes = []
        for prefix in ("/v1", ""):
            routes += [
                Route(f"{prefix}/messages", self.messages, methods=["POST"]),
                Route(f"{prefix}/messages/count_tokens", self.count_tokens, methods=["POST"]),
            ]
        return routes

    async def count_tokens(self, http: Request) -> Response:
        body = parse_json_body(await read_body(http))
        request = parse_chat(openai_body(body), default_max_tokens=1)
        tokens = await asyncio.to_thread(self.service.count_chat_tokens, request)
        return JSONResponse({"input_tokens": tokens})

    async def messages(self, http: Request) -> Response:
        body = parse_json_body(await read_body(http))
        name = model_name(body.get("model"))
        request = parse_messages(body, default_max_tokens=self.service.default_max_tokens)
        request = dataclasses.replace(request, model=name, split_reasoning=_thinking_on(body))
        run, first = await self.start_reply(http, [request])
        message_id = f"msg_{secrets.token_hex(12)}"
        if body.get("stream") is True:
            events = self._events(run, first, http, message_id)
            return StreamingResponse(events, media_type="text/event-stream")
        texts: list[str] = []
        thoughts: list[str] = []
        item = first
        try:
            while not isinstance(item[1], (ReplyEnd, BaseException)):
                (thoughts if item[1].reasoning else texts).append(item[1].text)
                item = await run.next()
        finally:
            await run.finish()
        if isinstance(item[1], BaseException):
            raise item[1]
        end: ReplyEnd = item[1]
        http.state.tokens = end.stats.generated_tokens
        text = "".join(texts)
        blocks = [_thinking_block("".join(thoughts))] if thoughts else []
        blocks += [_text_block(text)] if text or not end.tool_calls else []
        blocks += [_tool_block(call) for call in end.tool_calls]
        return JSONResponse(
            {
                **self._message(message_id),
                "content": blocks,
                "stop_reason": STOP_REASONS.get(end.finish, "end_turn"),
                "usage": _usage(end),
            }
        )

    def _message(self, message_id: str) -> dict[str, Any]:
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": self.service.model_id,
            "stop_sequence": None,
        }

    async def _events(
        self, run: RunningReply, item: tuple[int, Any], http: Request, message_id: str
    ) -> AsyncIterator[bytes]:
        start = {**self._message(message_id), "content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": 0, "output_tokens": 0}
        yield _event("message_start", {"type": "message_start", "message": start})
        blocks = 0  # blocks opened so far
        thinking_open = text_open = False
        try:
            while True:
                outcome = item[1]
                if isinstance(outcome, BaseException):
                    yield _event("error", _error_body(as_api_error(outcome)))
                    return
                if isinstance(outcome, TextPiece) and outcome.reasoning:
                    if not thinking_open:  # the thinking comes first, as block 0
                        thinking_open, blocks = True, blocks + 1
                        yield _block_start(0, _thinking_block(""))
                    delta = {"type": "thinking_delta", "thinking": outcome.text}
                    yield _event("content_block_delta", _delta(0, delta))
                    item = await run.next()
                    continue
                if thinking_open:
                    thinking_open = False
                    yield _block_stop(0)
                if isinstance(outcome, TextPiece):
                    if not text_open:
                        text_open, blocks = True, blocks + 1
                        yield _block_start(blocks - 1, _text_block(""))
                    delta = {"type": "text_delta", "text": outcome.text}
                    yield _event("content_block_delta", _delta(blocks - 1, delta))
                    item = await run.next()
                    continue
                end: ReplyEnd = outcome
                http.state.tokens = end.stats.generated_tokens
                if not text_open and not end.tool_calls:  # an empty reply: one empty text
                    text_open, blocks = True, blocks + 1  # block, as the whole message has
                    yield _block_start(blocks - 1, _text_block(""))
                if text_open:
                    yield _block_stop(blocks - 1)
                for call in end.tool_calls:
                    index, blocks = blocks, blocks + 1
                    yield _block_start(index, {**_tool_block(call), "input": {}})
                    delta = {"type": "input_json_delta", "partial_json": call.arguments}
                    yield _event("content_block_delta", _delta(index, delta))
                    yield _block_stop(index)
                stop = {"stop_reason": STOP_REASONS.get(end.finish, "end_turn")}
                closing = {"type": "message_delta", "delta": {**stop, "stop_sequence": None}}
                yield _event("message_delta", {**closing, "usage": _usage(end)})
                yield _event("message_stop", {"type": "message_stop"})
                return
        finally:
            await run.finish()


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _thinking_block(thinking: str) -> dict[str, Any]:
    """A reasoning model's thinking (no signature: nothing here checks one when it is sent
    back, and earlier turns' thinking is left out of the prompt)."""
    return {"type": "thinking", "thinking": thinking, "signature": ""}


def _thinking_on(body: Mapping[str, Any]) -> bool:
    """Whether the request asks to see the thinking (``thinking: {"type": "enabled"}``)."""
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


def _tool_block(call: ToolCall) -> dict[str, Any]:
    """A call as a ``tool_use`` block (its id as the template wants it back: Mistral's take
    nine letters and digits, so no ``toolu_`` prefix)."""
    return {
        "type": "tool_use",
        "id": call.id,
        "name": call.name,
        "input": json.loads(call.arguments),
    }


def _usage(end: ReplyEnd) -> dict[str, int]:
    stats = end.stats
    return {
        "input_tokens": stats.prompt_tokens - stats.cached_prompt_tokens,
        "cache_read_input_tokens": stats.cached_prompt_tokens,
        "output_tokens": stats.generated_tokens,
    }


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_start", "index": index, "content_block": block}
    return _event("content_block_start", payload)


def _block_stop(index: int) -> bytes:
    return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def _event(name: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False)
    return f"event: {name}\ndata: {data}\n\n".encode()
