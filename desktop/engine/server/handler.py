"""The HTTP side: routes, request bodies, JSON and server-sent-event answers, one log line.

Each connection gets its own thread (``ThreadingHTTPServer``); replies themselves are
serialised by :meth:`ModelServer.reply`. Every answer closes its connection: the server is
for one local user, and a closed connection is the simplest way to end an event stream that
has no length. A client that goes away mid-reply is noticed (a failed write, or the socket
reading end-of-file) and its generation cancelled, so the next request does not wait for it.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from desktop.engine.server import formatting
from desktop.engine.server.api_errors import ApiError, ClientGone, not_found
from desktop.engine.server.formatting import ReplyIdentity
from desktop.engine.server.parsing import (
    ReplyKind,
    ReplyRequest,
    parse_chat,
    parse_completion,
    parse_json_body,
)

if TYPE_CHECKING:
    from desktop.engine.server.model_server import ModelServer

#: Larger bodies are refused before being read (a long conversation is well under this).
MAX_BODY_BYTES = 16 * 1024 * 1024

#: Path → (method, kind of reply or None for the model list).
ROUTES: MappingProxyType[str, tuple[str, ReplyKind | None]] = MappingProxyType(
    {
        "/v1/models": ("GET", None),
        "/v1/chat/completions": ("POST", ReplyKind.CHAT),
        "/v1/completions": ("POST", ReplyKind.COMPLETION),
    }
)

_PARSERS: MappingProxyType[ReplyKind, Callable[..., ReplyRequest]] = MappingProxyType(
    {ReplyKind.CHAT: parse_chat, ReplyKind.COMPLETION: parse_completion}
)


class ApiHandler(BaseHTTPRequestHandler):
    """One request on one connection; the ModelServer hangs off ``self.server``."""

    server_version = "quantdesk"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # http.server's naming
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        """CORS preflight: browsers ask before a cross-origin POST with a JSON body."""
        self.send_response(204)
        if self._model_server.cors:
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
        self._end_headers(0)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: ModelServer logs one line per request with its token count instead."""

    @property
    def _model_server(self) -> ModelServer:
        return self.server.model_server  # type: ignore[attr-defined, no-any-return]

    # --- dispatch --------------------------------------------------------------------------

    def _handle(self) -> None:
        started = time.monotonic()
        path = self.path.split("?", 1)[0].rstrip("/")
        self.status, self.tokens = 0, "-"
        try:
            self._route(path)
        except ApiError as exc:
            self._send_json(exc.status, exc.body())
        except (ClientGone, BrokenPipeError, ConnectionResetError):
            self.status = 499  # nginx's "client closed request": nobody got an answer
        except Exception as exc:  # a bug must not kill the server: answer 500 and go on
            error = ApiError(500, f"Internal error: {exc!r}", kind="server_error", code=None)
            self._send_json(500, error.body())
        self.close_connection = True
        seconds = time.monotonic() - started
        self._model_server.log(
            f"{self.command} {path} {self.status} {self.tokens} tok {seconds:.2f} s"
        )

    def _route(self, path: str) -> None:
        if path not in ROUTES:
            raise not_found(f"There is no {path!r} here; the API is under /v1.", "unknown_url")
        method, kind = ROUTES[path]
        if self.command != method:
            raise ApiError(405, f"{path} takes {method} requests.", code="method_not_allowed")
        server = self._model_server
        if kind is None:
            created = int(server.model_path.stat().st_mtime)
            self._send_json(200, formatting.models_list(server.model_id, created))
            return
        body = parse_json_body(self._read_body())
        server.check_model(body.get("model"))
        request = _PARSERS[kind](body, default_max_tokens=server.default_max_tokens)
        reply = ReplyIdentity.new(kind, server.model_id)
        if request.stream:
            self._stream(request, reply)
        else:
            self._whole(request, reply)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ApiError(411, "The request needs a Content-Length header.", code=None)
        if int(length) > MAX_BODY_BYTES:
            raise ApiError(413, "The request body is too large.", code=None)
        return self.rfile.read(int(length))

    # --- answers ---------------------------------------------------------------------------

    def _whole(self, request: ReplyRequest, reply: ReplyIdentity) -> None:
        pieces: list[str] = []
        finish, stats = self._model_server.reply(
            request, send=pieces.append, client_gone=self._client_gone
        )
        self.tokens = str(stats.generated_tokens)
        self._send_json(200, formatting.whole_reply(reply, "".join(pieces), finish, stats))

    def _stream(self, request: ReplyRequest, reply: ReplyIdentity) -> None:
        stream = _EventStream(self, reply)
        try:
            finish, stats = self._model_server.reply(
                request, send=stream.send, client_gone=self._client_gone
            )
        except ApiError as exc:
            if not stream.opened:
                raise
            self.status = exc.status  # too late for a status line: the error is the last event
            self.wfile.write(formatting.sse_event(exc.body()) + formatting.SSE_DONE)
            return
        self.tokens = str(stats.generated_tokens)
        stream.send("", finish=finish)
        if request.include_usage:
            self.wfile.write(formatting.sse_event(formatting.usage_chunk(reply, stats)))
        self.wfile.write(formatting.SSE_DONE)

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self._end_headers(len(body))
        self.wfile.write(body)

    def _end_headers(self, length: int | None) -> None:
        if length is not None:
            self.send_header("Content-Length", str(length))
        if self._model_server.cors:
            self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Connection", "close")
        self.end_headers()

    def _client_gone(self) -> bool:
        """Whether the client has closed its end (its socket reads end-of-file)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class _EventStream:
    """A ``text/event-stream`` answer, opened (status line sent) by its first event."""

    def __init__(self, handler: ApiHandler, reply: ReplyIdentity) -> None:
        self._handler = handler
        self._reply = reply
        self.opened = False

    def send(self, text: str, *, finish: str | None = None) -> None:
        handler = self._handler
        if not self.opened:
            self.opened = True
            handler.status = 200
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Cache-Control", "no-cache")
            handler._end_headers(None)
            if self._reply.kind is ReplyKind.CHAT:  # the role comes first, on its own
                handler.wfile.write(formatting.sse_event(formatting.chunk(self._reply, first=True)))
        if text or finish is not None:
            event = formatting.chunk(self._reply, text, finish=finish)
            handler.wfile.write(formatting.sse_event(event))
