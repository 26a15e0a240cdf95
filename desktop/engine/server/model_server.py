"""``ModelServer``: one GGUF model behind an OpenAI-compatible HTTP API on this machine.

A small state machine (``new → starting → running → stopped``; ``start`` and ``stop`` refuse
to run twice). The model lives in an :class:`InferenceWorker` child process, so a llama.cpp
crash costs one request (answered 500) and the model is loaded again for the next one. The
worker answers one reply at a time; concurrent requests wait for a lock in arrival order
rather than being refused, which is what scripts firing a few requests at once expect.
"""

from __future__ import annotations

import enum
import ipaddress
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path

from converter.errors import QuantdeskError, WorkerCrashed
from desktop.engine.server.api_errors import ApiError, ClientGone, bad_request
from desktop.engine.server.formatting import FINISH_REASONS
from desktop.engine.server.handler import ApiHandler
from desktop.engine.server.parsing import ReplyKind, ReplyRequest
from desktop.engine.worker import (
    InferenceWorker,
    LoadInfo,
    LoadSettings,
    ReplyStats,
    WorkerState,
    WorkerStateError,
)
from desktop.engine.worker.chat_format import ChatTemplateError
from desktop.engine.worker.protocol import PromptTooLong

#: llama.cpp's own ``llama-server`` listens here too, so scripts written for it work unchanged.
DEFAULT_PORT = 8080


class ServerState(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"


class ServerStateError(QuantdeskError):
    """A ModelServer method was called in a state that does not allow it."""


class ServerStartError(QuantdeskError):
    """The server could not listen on the requested address."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (so nothing else can use the API)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ModelServer:
    """Serve ``model_path`` at ``http://host:port/v1`` until :meth:`stop`."""

    def __init__(
        self,
        model_path: Path,
        load_settings: LoadSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        cors: bool = False,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.model_id = self.model_path.stem
        self.cors = cors
        self._load_settings = load_settings or LoadSettings()
        self._host, self._port = host, port
        self._on_request = on_request
        self._state = ServerState.NEW
        self._state_lock = threading.Lock()
        self._reply_lock = threading.Lock()
        self._worker = InferenceWorker()
        self._info: LoadInfo | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ------------------------------------------------------------------------

    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 asked for any free port)."""
        return self._httpd.server_address[1] if self._httpd is not None else self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/v1"

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid

    def _move(self, allowed: tuple[ServerState, ...], target: ServerState, what: str) -> None:
        with self._state_lock:
            if self._state not in allowed:
                raise ServerStateError(f"Cannot {what}: the server is {self._state.value}.")
            self._state = target

    def start(self, *, on_progress: Callable[[float], None] | None = None) -> LoadInfo:
        """Listen, load the model, then answer requests on a background thread."""
        self._move((ServerState.NEW,), ServerState.STARTING, "start")
        try:
            self._httpd = self._listen()
            self._info = self._worker.load(
                self.model_path, self._load_settings, on_progress=on_progress
            )
        except BaseException:
            self._close_everything()
            raise
        self._thread = threading.Thread(
            # A short poll keeps stop() (called from the app's GUI thread too) quick.
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="quantdesk-server",
            daemon=True,
        )
        self._thread.start()
        self._move((ServerState.STARTING,), ServerState.RUNNING, "start")
        return self._info

    def _listen(self) -> ThreadingHTTPServer:
        try:
            httpd = ThreadingHTTPServer((self._host, self._port), ApiHandler)
        except OSError as exc:
            raise ServerStartError(
                f"Cannot listen on {self._host}:{self._port}: {exc.strerror or exc}. "
                "Another program may be using the port; choose another with --port."
            ) from None
        httpd.model_server = self  # type: ignore[attr-defined]  # the handler finds us here
        return httpd

    def stop(self) -> None:
        """Stop answering, cut off any reply in progress and end the worker (idempotent)."""
        with self._state_lock:
            if self._state is ServerState.NEW:
                raise ServerStateError("Cannot stop: the server was never started.")
            if self._state is ServerState.STOPPED:
                return
            self._state = ServerState.STOPPED
        self._close_everything()

    def _close_everything(self) -> None:
        self._state = ServerState.STOPPED
        httpd = self._httpd
        if httpd is not None and self._thread is not None:
            httpd.shutdown()
        self._worker.close()
        if httpd is not None:
            httpd.server_close()

    # --- requests (called by the handler threads) ----------------------------------------------

    def log(self, line: str) -> None:
        if self._on_request is not None:
            self._on_request(line)

    @property
    def default_max_tokens(self) -> int:
        """Without ``max_tokens`` a reply may run until the context is full, as with OpenAI."""
        return self._info.ctx_tokens if self._info is not None else LoadSettings().ctx_tokens

    def check_model(self, model: object) -> None:
        """A request's ``model`` must be omitted or name the loaded model."""
        if model is None or model == self.model_id:
            return
        if not isinstance(model, str):
            raise bad_request("'model' must be a string.", "invalid_type")
        raise ApiError(
            404,
            f"The model {model!r} does not exist here; this server has {self.model_id!r} "
            "loaded (GET /v1/models lists it).",
            code="model_not_found",
        )

    def reply(
        self,
        request: ReplyRequest,
        *,
        send: Callable[[str], None],
        client_gone: Callable[[], bool],
    ) -> tuple[str, ReplyStats]:
        """Generate one reply, passing text to ``send`` as it comes (the worker cuts it at the
        request's stop strings).

        Returns the OpenAI finish reason and the worker's figures. Waits for earlier replies
        first; raises ClientGone when the client left (the generation is cancelled).
        """
        with self._reply_lock:
            if client_gone():
                raise ClientGone
            self._ensure_model()

            def on_token(piece: str) -> None:
                if client_gone():
                    raise ClientGone
                send(piece)

            stats = self._generate(request, on_token)
            return FINISH_REASONS[stats.stop_reason], stats

    def _generate(self, request: ReplyRequest, on_token: Callable[[str], None]) -> ReplyStats:
        try:
            if request.kind is ReplyKind.CHAT:
                return self._worker.chat(
                    request.messages, request.sampling, on_token=on_token, stop=request.stop
                )
            return self._worker.complete(
                request.prompt, request.sampling, on_token=on_token, stop=request.stop
            )
        except PromptTooLong as exc:
            raise ApiError(400, str(exc), code="context_length_exceeded") from None
        except ChatTemplateError as exc:
            raise bad_request(str(exc), "chat_template_error") from None
        except WorkerStateError as exc:  # closed by stop() while answering
            raise ApiError(503, str(exc), kind="server_error", code=None) from None
        except WorkerCrashed as exc:
            self._reload_quietly()
            raise ApiError(500, str(exc), kind="server_error", code="worker_crashed") from None

    def _ensure_model(self) -> None:
        """Load the model again when a crash (or a failed reload) left the worker without it."""
        if self._state is not ServerState.RUNNING:
            raise ApiError(503, "The server is shutting down.", kind="server_error", code=None)
        if self._worker.state is WorkerState.READY:
            return
        try:
            self._info = self._worker.load(self.model_path, self._load_settings)
            self.log(f"reloaded {self.model_path.name}")
        except QuantdeskError as exc:
            raise ApiError(
                503,
                f"The model could not be loaded again after a crash: {exc}",
                kind="server_error",
                code="model_unavailable",
            ) from None

    def _reload_quietly(self) -> None:
        """After a crash, reload at once so the next request does not wait for it."""
        try:
            self._ensure_model()
        except ApiError as exc:
            self.log(exc.message)
