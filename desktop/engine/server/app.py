"""The HTTP side, as a Starlette application: routes, request bodies, JSON and event streams.

Routes answer with and without the ``/v1`` prefix, as llama.cpp's server does; besides
OpenAI's routes it answers llama-server's ``/tokenize`` and ``/detokenize``, Ollama's ``/api``
routes (``ollama_api``), Anthropic's ``/v1/messages`` (``anthropic_api``) and OpenAI's
``/v1/responses`` (``responses_api``), each front end with its own error shape. Replies run
in threads (the worker call blocks) and hand their text to the event loop, so a slow or
stalled client holds up nobody else. A client that goes away is noticed (the ASGI
``http.disconnect`` message) and its generation cancelled at the next token. A stream that
ends early because of a crash or shutdown ends with an error event and ``[DONE]``.

Requests must name this machine as their ``Host`` when the server listens on a loopback
address, and a browser page from another origin is refused unless CORS is on, so a web page
cannot reach the API by DNS rebinding; a page served from this machine (a local web UI
on another port) gets its origin back in ``Access-Control-Allow-Origin``, so browsers let it
read the answers. With an API key, every route but ``/health`` needs
``Authorization: Bearer <key>`` (or Anthropic's ``x-api-key: <key>``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Match, Route

from desktop.engine.server import formatting
from desktop.engine.server.anthropic_api import AnthropicApi, anthropic_error
from desktop.engine.server.api_errors import (
    ApiError,
    ClientGone,
    as_api_error,
    not_found,
    unavailable,
)
from desktop.engine.server.embedding_request import parse_embeddings
from desktop.engine.server.formatting import Choice, ReplyIdentity
from desktop.engine.server.model_service import ModelService, ModelState, ReplyEnd, TextPiece
from desktop.engine.server.ollama_api import OllamaApi, ollama_error
from desktop.engine.server.parsing import (
    ReplyKind,
    ReplyRequest,
    parse_chat,
    parse_completion,
    parse_detokenize,
    parse_json_body,
    parse_tokenize,
    reasoning_apart,
)
from desktop.engine.server.request_body import model_name, read_body
from desktop.engine.server.responses_api import ResponsesApi
from desktop.engine.server.running_reply import FrontEnd, RunningReply
from desktop.engine.worker import ReplyStats, TokenLogprobs

#: Threads that wait on the worker; replies beyond the worker's slots wait there too.
REPLY_THREADS = 256

_PARSERS: dict[ReplyKind, Callable[..., ReplyRequest]] = {
    ReplyKind.CHAT: parse_chat,
    ReplyKind.COMPLETION: parse_completion,
}
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_END = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRules:
    """Who may call: CORS for browsers, an optional API key, and the DNS-rebinding check."""

    cors: bool = False
    api_key: str | None = None
    loopback_only: bool = True


def build_app(service: ModelService, rules: AccessRules, log: Callable[[str], None]) -> _Gate:
    """The ASGI application; its ``executor`` (the reply threads) is shut down by the caller."""
    api = _Api(service, rules, log)
    routes = []
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/models", api.models, methods=["GET"]),
            Route(f"{prefix}/models/{{model_id:path}}", api.model, methods=["GET"]),
            Route(f"{prefix}/chat/completions", api.chat, methods=["POST"]),
            Route(f"{prefix}/completions", api.completion, methods=["POST"]),
            Route(f"{prefix}/health", api.health, methods=["GET"]),
            Route(f"{prefix}/tokenize", api.tokenize, methods=["POST"]),
            Route(f"{prefix}/detokenize", api.detokenize, methods=["POST"]),
            Route(f"{prefix}/embeddings", api.embeddings, methods=["POST"]),
        ]
    routes += OllamaApi(service, api.executor).routes()
    routes += AnthropicApi(service, api.executor).routes()
    routes += ResponsesApi(service, api.executor).routes()
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _error_response, ClientGone: _error_response},
    )
    return _Gate(app, api)


class _Api(FrontEnd):
    """OpenAI's and llama-server's route handlers; the reply threads all front ends share."""

    def __init__(
        self, service: ModelService, rules: AccessRules, log: Callable[[str], None]
    ) -> None:
        super().__init__(
            service, ThreadPoolExecutor(REPLY_THREADS, thread_name_prefix="quantdesk-reply")
        )
        self.rules = rules
        self.log = log

    # --- simple routes -------------------------------------------------------------------------

    async def health(self, _request: Request) -> Response:
        if self.service.state is ModelState.READY:
            return JSONResponse({"status": "ok"})
        raise unavailable("Loading model", "loading")

    async def models(self, _request: Request) -> Response:
        listed = await asyncio.to_thread(self.service.models)
        return JSONResponse(formatting.models_list(listed))

    async def model(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        listed = dict(await asyncio.to_thread(self.service.models))
        if model_id not in listed:
            raise not_found(
                f"The model {model_id!r} does not exist here; this server has "
                f"{self.service.model_id!r} loaded.",
                "model_not_found",
            )
        return JSONResponse(formatting.model_object(model_id, listed[model_id]))

    async def tokenize(self, http: Request) -> Response:
        asked = parse_tokenize(parse_json_body(await read_body(http)))
        tokens, pieces = await asyncio.to_thread(
            self.service.tokenize,
            asked.content,
            add_special=asked.add_special,
            parse_special=asked.parse_special,
        )
        return JSONResponse(formatting.tokens_answer(tokens, pieces if asked.with_pieces else None))

    async def detokenize(self, http: Request) -> Response:
        tokens = parse_detokenize(parse_json_body(await read_body(http)))
        text = await asyncio.to_thread(self.service.detokenize, tokens)
        return JSONResponse({"content": text})

    async def embeddings(self, http: Request) -> Response:
        asked = parse_embeddings(parse_json_body(await read_body(http)))
        vectors, tokens = await asyncio.to_thread(self.service.embed, asked)
        http.state.tokens = tokens
        answer = formatting.embeddings_answer(
            self.service.model_id, vectors, tokens, asked.encoding
        )
        return JSONResponse(answer)

    # --- replies --------------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        return await self._reply(request, ReplyKind.CHAT)

    async def completion(self, request: Request) -> Response:
        return await self._reply(request, ReplyKind.COMPLETION)

    async def _reply(self, http: Request, kind: ReplyKind) -> Response:
        body = parse_json_body(await read_body(http))
        model = model_name(body.get("model"))
        request = _PARSERS[kind](body, default_max_tokens=self.service.default_max_tokens)
        apart = kind is ReplyKind.CHAT and reasoning_apart(body)
        request = dataclasses.replace(request, model=model, split_reasoning=apart)
        run, first = await self.start_reply(http, _choice_requests(request))
        reply = ReplyIdentity.new(
            kind,
            self.service.model_id,
            self.service.fingerprint,
            logprobs=request.logprobs is not None,
        )
        if request.stream:
            return StreamingResponse(
                _events(run, reply, request, first, http),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return await _whole_answer(run, reply, request, first, http)


def _choice_requests(request: ReplyRequest) -> list[ReplyRequest]:
    """One request per choice; with a seed, choice ``i`` draws with seed + ``i``, so the
    choices differ and the whole reply can be repeated."""
    seed = request.sampling.seed
    if request.n == 1 or seed is None:
        return [request] * request.n
    return [
        dataclasses.replace(
            request,
            sampling=dataclasses.replace(request.sampling, seed=(seed + index) % (2**32 - 1)),
        )
        for index in range(request.n)
    ]


async def _whole_answer(
    run: RunningReply,
    reply: ReplyIdentity,
    request: ReplyRequest,
    item: tuple[int, Any],
    http: Request,
) -> Response:
    """The non-streamed answer of a reply whose first item is ``item``: each choice's text
    and log-probabilities, gathered until every choice has ended."""
    texts: list[list[str]] = [[] for _ in range(request.n)]
    thoughts: list[list[str]] = [[] for _ in range(request.n)]
    logprobs: list[list[TokenLogprobs]] = [[] for _ in range(request.n)]
    ends: dict[int, ReplyEnd] = {}
    while True:
        index, outcome = item
        if isinstance(outcome, BaseException):
            await run.finish()
            raise outcome
        if isinstance(outcome, TextPiece):
            (thoughts if outcome.reasoning else texts)[index].append(outcome.text)
        else:
            ends[index] = outcome
        logprobs[index] += outcome.logprobs
        if len(ends) == request.n:
            break
        item = await run.next()
    await run.finish()
    choices = [
        Choice(
            "".join(texts[index]),
            ends[index].finish,
            logprobs[index],
            ends[index].tool_calls,
            reasoning="".join(thoughts[index]),
        )
        for index in range(request.n)
    ]
    return JSONResponse(formatting.whole_reply(reply, choices, _ended_stats(ends, http)))


def _ended_stats(ends: dict[int, ReplyEnd], http: Request) -> list[ReplyStats]:
    """The figures of every choice, in index order; their generated tokens go in the request
    log."""
    stats = [ends[index].stats for index in range(len(ends))]
    http.state.tokens = sum(choice.generated_tokens for choice in stats)
    return stats


async def _events(
    run: RunningReply,
    reply: ReplyIdentity,
    request: ReplyRequest,
    item: tuple[int, Any],
    http: Request,
) -> AsyncIterator[bytes]:
    """The event stream of a reply whose first item is ``item``; the choices' chunks come
    as their text does, each with its ``index``."""
    completed = False
    offsets = [0] * request.n  # characters of each choice sent so far
    ends: dict[int, ReplyEnd] = {}
    try:
        if reply.kind is ReplyKind.CHAT:  # the role comes first, on its own
            for index in range(request.n):
                yield formatting.sse_event(formatting.chunk(reply, first=True, index=index))
        while True:
            index, outcome = item
            if isinstance(outcome, BaseException):  # too late for a status line: the last event
                error = as_api_error(outcome)
                http.state.status = error.status
                yield formatting.sse_event(error.body()) + formatting.SSE_DONE
                break
            if isinstance(outcome, TextPiece) and outcome.reasoning:
                thought = formatting.chunk(
                    reply, reasoning=outcome.text, logprobs=outcome.logprobs, index=index
                )
                yield formatting.sse_event(thought)
                item = await run.next()
                continue
            if isinstance(outcome, TextPiece):
                text, finish = outcome.text, None
            else:  # the choice's last chunk, after its tool calls if it made any
                ends[index] = outcome
                text, finish = "", outcome.finish
                if outcome.tool_calls:
                    calls = formatting.tool_calls_chunk(reply, outcome.tool_calls, index)
                    yield formatting.sse_event(calls)
            piece = formatting.chunk(
                reply,
                text,
                finish=finish,
                logprobs=outcome.logprobs,
                text_offset=offsets[index],
                index=index,
            )
            offsets[index] += len(text)
            yield formatting.sse_event(piece)
            if len(ends) == request.n:
                stats = _ended_stats(ends, http)
                if request.include_usage:
                    yield formatting.sse_event(formatting.usage_chunk(reply, stats))
                yield formatting.SSE_DONE
                break
            item = await run.next()
        completed = True
    finally:
        if not completed:  # the client went away (nginx's 499: nobody got an answer)
            http.state.status = 499
        await run.finish()


async def _error_response(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ClientGone):
        request.state.status = 499
        return Response(status_code=499)
    assert isinstance(exc, ApiError)
    path = request.url.path
    if path.startswith("/api/"):  # Ollama's routes answer in Ollama's shape
        return ollama_error(exc)
    if path.removeprefix("/v1").startswith("/messages"):  # Anthropic's, in Anthropic's
        return anthropic_error(exc)
    return JSONResponse(exc.body(), status_code=exc.status)


class _Gate:
    """ASGI middleware: access rules, CORS, errors as OpenAI-shaped JSON, one log line."""

    def __init__(self, app: Starlette, api: _Api) -> None:
        self._app = app
        self._api = api
        self.executor = api.executor

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.monotonic()
        request = Request(scope, receive)
        state = scope.setdefault("state", {})
        sent_status = 0
        allowed_origin = self._allowed_origin(request.headers.get("origin"))

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal sent_status
            if message["type"] == "http.response.start":
                sent_status = message["status"]
                if allowed_origin is not None:
                    headers = list(message.get("headers", []))
                    # spelled as most servers do: some clients look headers up case-sensitively
                    headers.append((b"Access-Control-Allow-Origin", allowed_origin.encode()))
                    if allowed_origin != "*":  # the answer differs per origin
                        headers.append((b"Vary", b"Origin"))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            self._check_access(request)
            if request.method == "OPTIONS":
                await _preflight(allowed_origin is not None)(scope, receive, send_with_headers)
            else:
                await self._route(scope, receive, send_with_headers)
        except Exception as exc:  # a bug must not kill the server: answer 500 and go on
            if sent_status == 0:
                error = exc if isinstance(exc, ApiError) else as_api_error(exc)
                response = JSONResponse(error.body(), status_code=error.status)
                await response(scope, receive, send_with_headers)
        status = state.get("status", sent_status)
        tokens = state.get("tokens", "-")
        seconds = time.monotonic() - started
        path = scope["path"].rstrip("/") or "/"
        self._api.log(f"{request.method} {path} {status} {tokens} tok {seconds:.2f} s")

    async def _route(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Run the Starlette app, turning its plain 404/405 into JSON errors."""
        path = scope["path"].rstrip("/") or "/"
        scope = {**scope, "path": path}
        matched = False
        for route in self._app.routes:
            match, _child = route.matches(scope)
            if match is Match.FULL:
                await self._app(scope, receive, send)
                return
            matched = matched or match is Match.PARTIAL
        if matched:
            raise ApiError(405, f"{path} does not take {scope['method']} requests.", code=None)
        raise not_found(f"There is no {path!r} here; the API is under /v1.", "unknown_url")

    def _allowed_origin(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` answer: any origin with --cors; otherwise a page
        served from this machine (a local web UI on another port) gets its own origin back."""
        if self._api.rules.cors:
            return "*"
        if origin is not None and _local_origin(origin):
            return origin
        return None

    def _check_access(self, request: Request) -> None:
        rules = self._api.rules
        if rules.loopback_only:
            host = request.headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in _LOOPBACK_HOSTS:
                raise ApiError(
                    403,
                    f"Host {host!r} is not this machine; the server only answers requests "
                    "addressed to localhost.",
                    kind="permission_error",
                    code="forbidden_host",
                )
        origin = request.headers.get("origin")
        if origin is not None and not rules.cors and not _local_origin(origin):
            raise ApiError(
                403,
                f"Web pages from {origin} may not call this server; start it with --cors "
                "to allow browsers.",
                kind="permission_error",
                code="forbidden_origin",
            )
        if rules.api_key is not None and request.method != "OPTIONS":
            path = request.url.path.rstrip("/")
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            given = given or request.headers.get("x-api-key", "")  # Anthropic's clients' header
            if path not in ("/health", "/v1/health") and not hmac.compare_digest(
                given.encode(), rules.api_key.encode()
            ):
                raise ApiError(
                    401,
                    "Missing or wrong API key: send 'Authorization: Bearer <key>' "
                    "(or 'x-api-key: <key>').",
                    kind="authentication_error",
                    code="invalid_api_key",
                )


def _local_origin(origin: str) -> bool:
    host = origin.split("://", 1)[-1].split("/", 1)[0]
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in _LOOPBACK_HOSTS


def _preflight(allowed: bool) -> Response:
    """CORS preflight: browsers ask before a cross-origin POST with a JSON body."""
    headers = {}
    if allowed:
        headers = {
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
        }
    return Response(status_code=200, headers=headers)
