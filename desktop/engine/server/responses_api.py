"""OpenAI's Responses API (``POST /v1/responses``) beside its chat API, for the clients that
speak only it (the Agents SDK, Codex and other newer tools).

A reply is a ``response`` whose ``output`` holds a ``message`` (one ``output_text`` part) and,
when the model called tools, ``function_call`` items; ``status`` is ``completed``, or
``incomplete`` with the reason when the token budget ran out. Streamed, it comes as the API's
named events, each with its ``sequence_number``: ``response.created``, the message's
``output_item.added`` / ``content_part.added`` / ``output_text.delta`` … ``.done``, each call's
item with its arguments whole in one ``function_call_arguments.delta``, and
``response.completed``. Errors are OpenAI's, mid-stream as an ``error`` event. The request is
checked by the same parser as chat's (``responses_request``).

A response that ends (completed or incomplete) is kept unless the request says ``store:
false`` (``response_store``): ``GET /v1/responses/{id}`` gives it again (``…/input_items``
its own input items), ``DELETE`` forgets it, and a later request's ``previous_response_id``
goes on from its conversation.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from desktop.engine.server.api_errors import ApiError, as_api_error, bad_request, not_found
from desktop.engine.server.model_service import ModelService, ReplyEnd, TextPiece
from desktop.engine.server.parsing import ReplyRequest, parse_json_body
from desktop.engine.server.request_body import model_name, read_body
from desktop.engine.server.response_store import ConversationGone, KeptResponse, ResponseStore
from desktop.engine.server.responses_request import (
    input_items,
    listed_items,
    parse_responses,
    previous_response_id,
)
from desktop.engine.server.running_reply import FrontEnd, RunningReply
from desktop.engine.server.tool_calls import ToolCall


class ResponsesApi(FrontEnd):
    """The ``/v1/responses`` handlers, on the same service and reply threads as chat's."""

    def __init__(self, service: ModelService, executor: Executor) -> None:
        super().__init__(service, executor)
        self.store = ResponseStore()

    def routes(self) -> list[Route]:
        routes = []
        for prefix in ("/v1", ""):
            routes += [
                Route(f"{prefix}/responses", self.responses, methods=["POST"]),
                Route(f"{prefix}/responses/{{response_id}}", self.kept, methods=["GET"]),
                Route(f"{prefix}/responses/{{response_id}}", self.forget, methods=["DELETE"]),
                Route(
                    f"{prefix}/responses/{{response_id}}/input_items", self.inputs, methods=["GET"]
                ),
            ]
        return routes

    async def kept(self, http: Request) -> Response:
        kept = self.store.get(http.path_params["response_id"])
        if kept is None:
            raise _not_kept(http.path_params["response_id"])
        return JSONResponse(dict(kept.response))

    async def inputs(self, http: Request) -> Response:
        """A kept response's own input items, a page at a time (OpenAI's ``order``, ``limit``
        and ``after``; newest first unless ``order=asc``)."""
        kept = self.store.get(http.path_params["response_id"])
        if kept is None:
            raise _not_kept(http.path_params["response_id"])
        query = http.query_params
        items = list(kept.input_items)
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise bad_request("'order' must be asc or desc.", param="order")
        if order == "desc":
            items.reverse()
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise bad_request("'limit' must be a number from 1 to 100.", param="limit")
        after = query.get("after")
        if after is not None:
            ids = [item.get("id") for item in items]
            if after not in ids:
                raise bad_request(
                    f"No input item of this response has the id {after!r}.", param="after"
                )
            items = items[ids.index(after) + 1 :]
        page = [dict(item) for item in items[:limit]]
        return JSONResponse(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(items) > limit,
            }
        )

    async def forget(self, http: Request) -> Response:
        response_id = http.path_params["response_id"]
        if not self.store.delete(response_id):
            raise _not_kept(response_id)
        return JSONResponse({"id": response_id, "object": "response", "deleted": True})

    async def responses(self, http: Request) -> Response:
        body = parse_json_body(await read_body(http))
        name = model_name(body.get("model"))
        previous = previous_response_id(body)
        try:
            earlier = self.store.conversation(previous) if previous else []
        except ConversationGone as gone:
            raise bad_request(
                f"Previous response with id '{gone.response_id}' not found: this server keeps "
                "responses in memory until it stops, and at most the last "
                f"{self.store.capacity} used.",
                "previous_response_not_found",
                "previous_response_id",
            ) from None
        request = parse_responses(
            body, default_max_tokens=self.service.default_max_tokens, earlier=earlier
        )
        request = dataclasses.replace(request, model=name, split_reasoning=True)
        run, first = await self.start_reply(http, [request])
        reply = _Reply(self.service.model_id, request, body)
        if body.get("store") is not False:
            reply.on_end = self._keeper(body, previous)
        if body.get("stream") is True:
            return StreamingResponse(
                self._events(run, first, http, reply), media_type="text/event-stream"
            )
        item = first
        try:
            while isinstance(item[1], TextPiece):
                reply.take(item[1])
                item = await run.next()
        finally:
            await run.finish()
        if isinstance(item[1], BaseException):
            raise item[1]
        http.state.tokens = item[1].stats.generated_tokens
        return JSONResponse(reply.ended(item[1]))

    def _keeper(self, body: dict[str, Any], previous: str | None) -> Callable[[dict], None]:
        items = tuple(listed_items(input_items(body)))

        def keep(final: dict[str, Any]) -> None:
            self.store.keep(KeptResponse(final, items, previous))

        return keep

    async def _events(
        self, run: RunningReply, item: tuple[int, Any], http: Request, reply: _Reply
    ) -> AsyncIterator[bytes]:
        events = _Events()
        yield events.send("response.created", response=reply.state("in_progress"))
        yield events.send("response.in_progress", response=reply.state("in_progress"))
        thinking = reply.reasoning_item("in_progress")
        message = reply.message_item("in_progress")
        index = 0  # the output item being written
        state = "start"  # → "thinking" → "message"
        try:
            while isinstance(item[1], TextPiece):
                piece: TextPiece = item[1]
                if piece.reasoning and state == "start":
                    state = "thinking"
                    yield events.send("response.output_item.added", output_index=0, item=thinking)
                if piece.reasoning:
                    reply.take(piece)
                    yield events.send(
                        "response.reasoning_text.delta", **_text_at(thinking, 0), delta=piece.text
                    )
                    item = await run.next()
                    continue
                if state == "thinking":
                    for event in _close_reasoning(events, reply):
                        yield event
                    index = 1
                if state != "message":
                    state = "message"
                    for event in _open_message(events, message, index):
                        yield event
                reply.take(piece)
                yield events.send(
                    "response.output_text.delta",
                    **_text_at(message, index),
                    delta=piece.text,
                    logprobs=[],
                )
                item = await run.next()
            outcome = item[1]
            if isinstance(outcome, BaseException):
                error = as_api_error(outcome)
                yield events.send("error", code=error.code, message=error.message, param=None)
                return
            end: ReplyEnd = outcome
            http.state.tokens = end.stats.generated_tokens
            final = reply.ended(end)
            if state == "thinking":
                for event in _close_reasoning(events, reply):
                    yield event
                index = 1
            if state != "message" and not end.tool_calls:  # an empty reply: an empty
                state = "message"  # message, as the whole response has
                for event in _open_message(events, message, index):
                    yield event
            if state == "message":
                done = reply.message_item("completed")
                part = done["content"][0]
                at = _text_at(message, index)
                yield events.send("response.output_text.done", **at, text=reply.text, logprobs=[])
                yield events.send("response.content_part.done", **at, part=part)
                yield events.send("response.output_item.done", output_index=index, item=done)
                index += 1
            for call_item in [out for out in final["output"] if out["type"] == "function_call"]:
                for event in _call_events(events, index, call_item):
                    yield event
                index += 1
            name = "response.completed" if final["status"] == "completed" else "response.incomplete"
            yield events.send(name, response=final)
        finally:
            await run.finish()


class _Reply:
    """One response: its ids, what the request asked for, and the text so far."""

    def __init__(self, model: str, request: ReplyRequest, body: dict[str, Any]) -> None:
        self.id = f"resp_{secrets.token_hex(12)}"
        self.message_id = f"msg_{secrets.token_hex(12)}"
        self.reasoning_id = f"rs_{secrets.token_hex(12)}"
        self.created = int(time.time())
        self.model = model
        self.request = request
        self.body = body
        self.text = ""
        self.thought = ""  # a reasoning model's thinking
        self.on_end: Callable[[dict[str, Any]], None] | None = None  # given the whole response

    def state(self, status: str, output: list[Any] | None = None) -> dict[str, Any]:
        sampling = self.request.sampling
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.model,
            "output": output or [],
            "instructions": self.body.get("instructions"),
            "tools": self.body.get("tools") or [],
            "tool_choice": self.body.get("tool_choice") or "auto",
            "parallel_tool_calls": self.body.get("parallel_tool_calls", True),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_output_tokens": self.body.get("max_output_tokens"),
            "text": self.body.get("text") or {"format": {"type": "text"}},
            "previous_response_id": self.body.get("previous_response_id"),
            "store": self.body.get("store") is not False,
            "error": None,
            "incomplete_details": None,
            "usage": None,
        }

    def take(self, piece: TextPiece) -> None:
        if piece.reasoning:
            self.thought += piece.text
        else:
            self.text += piece.text

    def reasoning_item(self, status: str) -> dict[str, Any]:
        """The thinking as a ``reasoning`` item (its text as ``reasoning_text``, as OpenAI's
        open-weight models give it)."""
        content = (
            [{"type": "reasoning_text", "text": self.thought}] if status != "in_progress" else []
        )
        return {
            "type": "reasoning",
            "id": self.reasoning_id,
            "summary": [],
            "content": content,
            "status": status,
        }

    def message_item(self, status: str) -> dict[str, Any]:
        part = {
            "type": "output_text",
            "text": self.text if status == "completed" else "",
            "annotations": [],
        }
        return {
            "type": "message",
            "id": self.message_id,
            "status": status,
            "role": "assistant",
            "content": [part],
        }

    def ended(self, end: ReplyEnd) -> dict[str, Any]:
        """The whole response once the reply has ended."""
        output = [self.reasoning_item("completed")] if self.thought else []
        output += [self.message_item("completed")] if self.text or not end.tool_calls else []
        output += [_call_item(call) for call in end.tool_calls]
        status = "incomplete" if end.finish == "length" else "completed"
        final = self.state(status, output)
        if status == "incomplete":
            final["incomplete_details"] = {"reason": "max_output_tokens"}
        stats = end.stats
        final["usage"] = {
            "input_tokens": stats.prompt_tokens,
            "input_tokens_details": {"cached_tokens": stats.cached_prompt_tokens},
            "output_tokens": stats.generated_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": stats.prompt_tokens + stats.generated_tokens,
        }
        if self.on_end is not None:
            self.on_end(final)
        return final


class _Events:
    """Server-sent events, numbered as the API numbers them."""

    def __init__(self) -> None:
        self._number = 0

    def send(self, name: str, **fields: Any) -> bytes:
        payload = {"type": name, "sequence_number": self._number, **fields}
        self._number += 1
        data = json.dumps(payload, ensure_ascii=False)
        return f"event: {name}\ndata: {data}\n\n".encode()


def _open_message(events: _Events, message: dict[str, Any], index: int) -> Iterator[bytes]:
    yield events.send("response.output_item.added", output_index=index, item=message)
    part = {"type": "output_text", "text": "", "annotations": []}
    yield events.send("response.content_part.added", **_text_at(message, index), part=part)


def _close_reasoning(events: _Events, reply: _Reply) -> Iterator[bytes]:
    """The end of the thinking, output item 0."""
    done = reply.reasoning_item("completed")
    at = _text_at(done, 0)
    yield events.send("response.reasoning_text.done", **at, text=reply.thought)
    yield events.send("response.output_item.done", output_index=0, item=done)


def _text_at(item: dict[str, Any], index: int) -> dict[str, Any]:
    return {"item_id": item["id"], "output_index": index, "content_index": 0}


def _not_kept(response_id: str) -> ApiError:
    return not_found(f"Response with id '{response_id}' not found.", "response_not_found")


def _call_item(call: ToolCall) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{secrets.token_hex(12)}",
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "status": "completed",
    }


def _call_events(events: _Events, index: int, item: dict[str, Any]) -> Iterator[bytes]:
    added = {**item, "arguments": "", "status": "in_progress"}
    yield events.send("response.output_item.added", output_index=index, item=added)
    at = {"item_id": item["id"], "output_index": index}
    yield events.send("response.function_call_arguments.delta", **at, delta=item["arguments"])
    yield events.send("response.function_call_arguments.done", **at, arguments=item["arguments"])
    yield events.send("response.output_item.done", output_index=index, item=item)
