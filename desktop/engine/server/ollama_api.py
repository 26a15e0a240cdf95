"""Ollama's own API beside OpenAI's, so the tools written for Ollama (its Python and JS
clients, chat front ends, editor plugins) work against ``quantdesk serve`` unchanged, once
pointed at its address.

Routes: ``GET /`` (a line saying the server runs, which Ollama's clients check),
``GET /api/version``, ``GET /api/tags`` (the models), ``GET /api/ps`` (the loaded
one), ``POST /api/show``, ``POST /api/chat``, ``POST /api/generate``, ``POST /api/embed`` and
the older ``POST /api/embeddings``. Replies stream as Ollama's do, one JSON object per line,
unless ``stream`` is false; the last object has ``done: true``, the ``done_reason`` and the
token counts and durations (in nanoseconds). Errors are Ollama's ``{"error": "…"}``, mid-stream
too. Requests are checked by the same parser as OpenAI's (``ollama_request``), the replies
come from the same service; any ``model`` name means the loaded model, as on OpenAI's routes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from converter.errors import QuantdeskError
from converter.gguf_header import read_gguf_header
from converter.gguf_shards import model_bytes
from converter.levels import level_name_of_file_type
from desktop.engine.reasoning import thinking_options
from desktop.engine.server.api_errors import ApiError, ClientGone, as_api_error
from desktop.engine.server.embedding_request import EmbeddingRequest, parse_embeddings
from desktop.engine.server.formatting import vector_floats
from desktop.engine.server.model_service import ReplyEnd, TextPiece
from desktop.engine.server.ollama_request import (
    parse_ollama_chat,
    parse_ollama_generate,
    wants_stream,
)
from desktop.engine.server.parsing import ReplyKind, parse_json_body
from desktop.engine.server.request_body import model_name, read_body
from desktop.engine.server.running_reply import FrontEnd, RunningReply

#: The version of Ollama's API these routes follow (clients check it before using features
#: such as tools and structured output).
OLLAMA_API_VERSION = "0.6.0"
NDJSON = "application/x-ndjson"


def ollama_error(exc: ApiError | ClientGone) -> Response:
    """An error in Ollama's shape."""
    if isinstance(exc, ClientGone):
        return Response(status_code=499)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


class OllamaApi(FrontEnd):
    """The ``/api`` route handlers, on the same service and reply threads as OpenAI's."""

    def routes(self) -> list[Route]:
        return [
            Route("/", self.root, methods=["GET", "HEAD"]),
            Route("/api/version", self.version, methods=["GET"]),
            Route("/api/tags", self.tags, methods=["GET"]),
            Route("/api/ps", self.running, methods=["GET"]),
            Route("/api/show", self.show, methods=["POST"]),
            Route("/api/chat", self.chat, methods=["POST"]),
            Route("/api/generate", self.generate, methods=["POST"]),
            Route("/api/embed", self.embed, methods=["POST"]),
            Route("/api/embeddings", self.embeddings, methods=["POST"]),
        ]

    # --- models ---------------------------------------------------------------------------------

    async def root(self, _http: Request) -> Response:
        return PlainTextResponse("Quantdesk is running (OpenAI's API at /v1, Ollama's at /api)")

    async def version(self, _http: Request) -> Response:
        return JSONResponse({"version": OLLAMA_API_VERSION})

    async def tags(self, _http: Request) -> Response:
        listed = await asyncio.to_thread(
            lambda: [self._model(name, path) for name, path in self.service.model_paths()]
        )
        return JSONResponse({"models": listed})

    async def running(self, _http: Request) -> Response:
        loaded = await asyncio.to_thread(
            self._model, self.service.model_id, self.service.model_path
        )
        info = self.service.info
        vram = 0 if info is None or info.gpu_layers == 0 else loaded["size"]
        return JSONResponse({"models": [{**loaded, "size_vram": vram}]})

    async def show(self, http: Request) -> Response:
        body = parse_json_body(await read_body(http))
        model_name(body.get("model", body.get("name")))
        info = self.service.info
        described = await asyncio.to_thread(
            self._model, self.service.model_id, self.service.model_path
        )
        if info is None:
            return JSONResponse(described)
        architecture = info.model.architecture
        template = info.chat_template
        capabilities = ["embedding"] if info.embedding_only else ["completion", "embedding"]
        if template.takes_tools and not info.embedding_only:
            capabilities.append("tools")
        if template.thinks and not info.embedding_only:
            capabilities.append("thinking")  # its thinking comes apart with ``think``
        return JSONResponse(
            {
                "modelfile": "",
                "parameters": "",
                "template": template.template if template.from_model else "",
                "details": described["details"],
                "model_info": {
                    "general.architecture": architecture,
                    "general.parameter_count": info.model.n_params,
                    f"{architecture}.context_length": info.model.ctx_train_tokens,
                    f"{architecture}.block_count": info.model.n_layers,
                },
                "capabilities": capabilities,
                "modified_at": described["modified_at"],
            }
        )

    def _model(self, name: str, path: Path) -> dict[str, Any]:
        """A model as ``/api/tags`` lists it, with the facts its GGUF header holds."""
        try:
            stat = path.stat()
            size, modified = model_bytes(path), stat.st_mtime
        except OSError:
            size, modified = 0, 0.0
        # Ollama's digest names a blob; here it changes whenever the file does.
        digest = hashlib.sha256(f"{path}:{size}:{modified}".encode()).hexdigest()
        return {
            "name": name,
            "model": name,
            "modified_at": _timestamp(modified),
            "size": size,
            "digest": digest,
            "details": _details(path),
        }

    # --- replies --------------------------------------------------------------------------------

    async def chat(self, http: Request) -> Response:
        return await self._reply(http, ReplyKind.CHAT)

    async def generate(self, http: Request) -> Response:
        return await self._reply(http, ReplyKind.COMPLETION)

    async def _reply(self, http: Request, route: ReplyKind) -> Response:
        body = parse_json_body(await read_body(http))
        name = model_name(body.get("model"))
        stream = wants_stream(body)
        limit = self.service.default_max_tokens
        if route is ReplyKind.CHAT:
            request = parse_ollama_chat(body, default_max_tokens=limit)
        elif not body.get("prompt"):  # Ollama's way of loading a model: it is loaded
            return JSONResponse(
                {**self._head(), "response": "", "done": True, "done_reason": "load"}
            )
        else:
            request = parse_ollama_generate(body, default_max_tokens=limit)
        think = body.get("think")
        apart = think not in (None, False)  # also gpt-oss' "low" … "high"
        request = dataclasses.replace(request, model=name, split_reasoning=apart)
        if isinstance(think, bool) and request.kind is ReplyKind.CHAT:
            # As Ollama: false makes a model that can switch its thinking off answer at once.
            request = dataclasses.replace(request, template_options=thinking_options(think))
        run, first = await self.start_reply(http, [request])
        objects = self._objects(run, first, http, chat=route is ReplyKind.CHAT)
        if stream:
            lines = (_line(payload) async for payload in objects)
            return StreamingResponse(lines, media_type=NDJSON)
        return JSONResponse(_joined([payload async for payload in objects]))

    async def _objects(
        self, run: RunningReply, item: tuple[int, Any], http: Request, *, chat: bool
    ) -> AsyncIterator[dict[str, Any]]:
        """The reply's objects as Ollama streams them, one a line."""
        try:
            while True:
                _index, outcome = item
                if isinstance(outcome, BaseException):
                    yield {"error": as_api_error(outcome).message}
                    return
                if isinstance(outcome, TextPiece) and outcome.reasoning:
                    yield {**self._head(), **_thought(outcome.text, chat), "done": False}
                elif isinstance(outcome, TextPiece):
                    yield {**self._head(), **_piece(outcome.text, chat), "done": False}
                else:
                    http.state.tokens = outcome.stats.generated_tokens
                    if outcome.tool_calls:
                        yield {**self._head(), **_calls(outcome), "done": False}
                    yield self._last(outcome, chat)
                    return
                item = await run.next()
        finally:
            await run.finish()

    def _head(self) -> dict[str, Any]:
        return {"model": self.service.model_id, "created_at": _timestamp(time.time())}

    def _last(self, end: ReplyEnd, chat: bool) -> dict[str, Any]:
        stats = end.stats
        prompt_ns = int(stats.time_to_first_token_seconds * 1e9)
        return {
            **self._head(),
            **_piece("", chat),
            "done": True,
            "done_reason": "length" if end.finish == "length" else "stop",
            "total_duration": int(stats.total_seconds * 1e9),
            "load_duration": 0,
            "prompt_eval_count": stats.prompt_tokens - stats.cached_prompt_tokens,
            "prompt_eval_duration": prompt_ns,
            "eval_count": stats.generated_tokens,
            "eval_duration": max(int(stats.total_seconds * 1e9) - prompt_ns, 0),
        }

    # --- embeddings -----------------------------------------------------------------------------

    async def embed(self, http: Request) -> Response:
        body = parse_json_body(await read_body(http))
        model_name(body.get("model"))
        asked = parse_embeddings({"input": body.get("input"), "dimensions": body.get("dimensions")})
        started = time.monotonic_ns()
        vectors, tokens = await self._embed(asked)
        http.state.tokens = tokens
        return JSONResponse(
            {
                "model": self.service.model_id,
                "embeddings": vectors,
                "total_duration": time.monotonic_ns() - started,
                "load_duration": 0,
                "prompt_eval_count": tokens,
            }
        )

    async def embeddings(self, http: Request) -> Response:
        """The older route: one ``prompt``, one ``embedding``."""
        body = parse_json_body(await read_body(http))
        model_name(body.get("model"))
        asked = parse_embeddings({"input": body.get("prompt")})
        vectors, tokens = await self._embed(asked)
        http.state.tokens = tokens
        return JSONResponse({"embedding": vectors[0]})

    async def _embed(self, asked: EmbeddingRequest) -> tuple[list[list[float]], int]:
        raw, tokens = await asyncio.to_thread(self.service.embed, asked)
        return [vector_floats(vector) for vector in raw], tokens


def _piece(text: str, chat: bool) -> dict[str, Any]:
    if chat:
        return {"message": {"role": "assistant", "content": text}}
    return {"response": text}


def _thought(text: str, chat: bool) -> dict[str, Any]:
    """A piece of a reasoning model's thinking, where Ollama puts it (asked with ``think``)."""
    if chat:
        return {"message": {"role": "assistant", "content": "", "thinking": text}}
    return {"response": "", "thinking": text}


def _calls(end: ReplyEnd) -> dict[str, Any]:
    """Ollama's calls: the arguments as an object, not JSON text."""
    calls = [
        {"function": {"name": call.name, "arguments": json.loads(call.arguments)}}
        for call in end.tool_calls
    ]
    return {"message": {"role": "assistant", "content": "", "tool_calls": calls}}


def _joined(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """A non-streamed reply: the last line, with the text and calls of all of them."""
    if "error" in lines[-1]:
        raise ApiError(500, lines[-1]["error"], kind="server_error", code=None)
    whole = dict(lines[-1])
    if "message" in whole:
        message: dict[str, Any] = {"role": "assistant", "content": ""}
        for line in lines:
            message["content"] += line["message"]["content"]
            if "thinking" in line["message"]:
                message["thinking"] = message.get("thinking", "") + line["message"]["thinking"]
            if "tool_calls" in line["message"]:
                message["tool_calls"] = line["message"]["tool_calls"]
        whole["message"] = message
    else:
        whole["response"] = "".join(line["response"] for line in lines)
        thinking = "".join(line.get("thinking", "") for line in lines)
        if thinking:
            whole["thinking"] = thinking
    return whole


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n"


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def _details(path: Path) -> dict[str, Any]:
    """Ollama's ``details`` of a model file: family, parameters and level, from its header."""
    details: dict[str, Any] = {"parent_model": "", "format": "gguf"}
    try:
        header = read_gguf_header(path)
    except QuantdeskError:  # unreadable: listed by name alone, as Ollama lists what it has
        return {**details, "family": "", "families": None}
    parameters = sum(tensor.n_elements for tensor in header.tensors)
    return {
        **details,
        "family": header.architecture,
        "families": [header.architecture],
        "parameter_size": _parameter_size(parameters),
        "quantization_level": level_name_of_file_type(header.metadata.get("general.file_type")),
    }


def _parameter_size(n_params: int) -> str:
    """As Ollama writes it: ``494.03M``, ``8.0B``."""
    if n_params >= 1_000_000_000:
        return f"{n_params / 1e9:.1f}B"
    return f"{n_params / 1e6:.2f}M"
