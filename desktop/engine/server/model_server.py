"""``ModelServer``: one GGUF model behind an OpenAI-compatible HTTP API on this machine.

A small state machine (``new → starting → running → stopped``; ``start`` and ``stop`` refuse
to run twice). The HTTP side is uvicorn running the Starlette app of ``app.py`` on its own
thread and event loop; the socket is opened first (so a busy port fails at once, and bursts
of connections wait in a deep listen backlog) and requests are answered with 503 while the
model loads. The model lives in an :class:`InferenceWorker` child process, so a llama.cpp
crash costs the replies under way (answered 500) and the model is loaded again.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import ipaddress
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from converter.errors import QuantdeskError
from converter.gguf_shards import model_name
from converter.progress import Progress
from desktop.engine.server.app import AccessRules, build_app
from desktop.engine.server.model_service import ModelCatalog, ModelService
from desktop.engine.worker import LoadInfo, LoadSettings

#: llama.cpp's own ``llama-server`` listens here too, so scripts written for it work unchanged.
DEFAULT_PORT = 8080
#: Connections the kernel holds before they are accepted (a burst of clients at once).
LISTEN_BACKLOG = 2048
#: Idle keep-alive connections are closed after this long.
KEEP_ALIVE_SECONDS = 30
#: How long stop() lets open connections finish their last bytes.
SHUTDOWN_GRACE_SECONDS = 2
#: A request line and headers that take longer than this close the connection.
HEADER_TIMEOUT_SECONDS = 30.0


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


def _is_any_address(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


def reachable_address(host: str) -> str:
    """An address other machines can use for ``host``: for 0.0.0.0 or ::, this machine's
    address on its default route (no packet is sent to find it)."""
    if not _is_any_address(host):
        return host
    family = socket.AF_INET6 if host == "::" else socket.AF_INET
    probe_target = ("2001:db8::1", 80) if family == socket.AF_INET6 else ("192.0.2.1", 80)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(probe_target)
            return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostname()


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
        api_key: str | None = None,
        model_id: str | None = None,
        on_request: Callable[[str], None] | None = None,
        catalog: ModelCatalog | None = None,
        on_model_switch: Callable[[Path], None] | None = None,
    ) -> None:
        """``model_id`` is the name clients see in ``/v1/models`` and every reply (default:
        the file name without ``.gguf``). ``catalog``: other models a request may name to
        have them loaded in place of this one (just-in-time loading); ``on_model_switch``
        hears of each (on a request's thread)."""
        self.model_path = Path(model_path)
        self.model_id = model_id or model_name(self.model_path)
        self.cors = cors
        self._host, self._port = host, port
        self._on_request = on_request
        self._state = ServerState.NEW
        self._state_lock = threading.Lock()
        self._service = ModelService(
            self.model_path,
            load_settings or LoadSettings(),
            log=self.log,
            model_id=self.model_id,
            catalog=catalog,
            on_switch=on_model_switch,
        )
        self._rules = AccessRules(cors=cors, api_key=api_key, loopback_only=is_loopback(host))
        self._socket: socket.socket | None = None
        self._uvicorn: object = None
        self._thread: threading.Thread | None = None

    # --- life cycle ------------------------------------------------------------------------

    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 asked for any free port)."""
        return int(self._socket.getsockname()[1]) if self._socket is not None else self._port

    @property
    def url(self) -> str:
        """The base URL to give clients (a real address when listening on all of them)."""
        host = reachable_address(self._host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1"

    @property
    def worker_pid(self) -> int | None:
        return self._service.worker_pid

    @property
    def load_info(self) -> LoadInfo | None:
        return self._service.info

    @property
    def serving_model_id(self) -> str:
        """The model answering now (another than ``model_id`` once a request named one)."""
        return self._service.model_id

    def _move(self, allowed: tuple[ServerState, ...], target: ServerState, what: str) -> None:
        with self._state_lock:
            if self._state not in allowed:
                raise ServerStateError(f"Cannot {what}: the server is {self._state.value}.")
            self._state = target

    def start(self, *, on_progress: Callable[[Progress], None] | None = None) -> LoadInfo:
        """Listen (answering 503 meanwhile), load the model, and return once it answers."""
        self._move((ServerState.NEW,), ServerState.STARTING, "start")
        try:
            self._socket = self._listen()
            self._serve_in_background(self._socket)
            info = self._service.load(on_progress)
        except BaseException:
            self._close_everything()
            raise
        self._move((ServerState.STARTING,), ServerState.RUNNING, "start")
        return info

    def _listen(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        try:
            # Resolved first: binding to a name that does not resolve fails with a code
            # that, once create_server has re-raised it, reads as an unknown error.
            socket.getaddrinfo(self._host, self._port, family, socket.SOCK_STREAM)
            return socket.create_server(
                (self._host, self._port), family=family, backlog=LISTEN_BACKLOG
            )
        except OSError as exc:
            raise ServerStartError(_listen_failure(self._host, self._port, exc)) from None

    def _serve_in_background(self, sock: socket.socket) -> None:
        import uvicorn

        app = build_app(self._service, self._rules, self.log)
        config = uvicorn.Config(
            app,
            http=_http_protocol(),
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_level="warning",
            access_log=False,
            backlog=LISTEN_BACKLOG,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
        server = uvicorn.Server(config)
        self._uvicorn = server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            finally:
                app.executor.shutdown(wait=False, cancel_futures=True)

        self._thread = threading.Thread(target=run, name="quantdesk-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering, end any reply in progress (its stream says so) and the worker
        (idempotent)."""
        with self._state_lock:
            if self._state is ServerState.NEW:
                raise ServerStateError("Cannot stop: the server was never started.")
            if self._state is ServerState.STOPPED:
                return
            self._state = ServerState.STOPPED
        self._close_everything()

    def _close_everything(self) -> None:
        self._state = ServerState.STOPPED
        self._service.close()  # replies under way end now, with an error event
        server, thread = self._uvicorn, self._thread
        if server is not None and thread is not None:
            server.should_exit = True  # type: ignore[attr-defined]
            thread.join(SHUTDOWN_GRACE_SECONDS + 5)
        if self._socket is not None:
            self._socket.close()

    # --- requests --------------------------------------------------------------------------------

    def log(self, line: str) -> None:
        if self._on_request is not None:
            self._on_request(line)


def _http_protocol() -> type:
    """uvicorn's HTTP/1.1 protocol with a timeout on each request's line and headers.

    uvicorn times out idle keep-alive connections but not a request that never finishes its
    headers, so a client could hold connections open forever by sending a byte at a time.
    (This relies on the protocol's ``loop``, ``cycle`` and ``transport`` attributes.)
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            waiting_after = self.cycle  # a new cycle means the next request's headers came

            def expire() -> None:
                if self.cycle is waiting_after and not self.transport.is_closing():
                    self.transport.close()

            self._header_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, expire)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def _listen_failure(host: str, port: int, exc: OSError) -> str:
    """Why the server cannot listen, and what to do, in a sentence (Python's own text adds
    the address as a tuple: "(while attempting to bind on address ('127.0.0.1', 8080))")."""
    where = f"Cannot listen on {host}:{port}"
    if isinstance(exc, socket.gaierror):
        return f"{where}: {host} is no host name or address this machine knows."
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: the port is in use by another program; choose another port."
    if exc.errno == errno.EACCES:
        return f"{where}: ports below 1024 need administrator rights; choose another port."
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{where}: this machine has no address {host}; listen on 127.0.0.1 (this machine "
            "only) or 0.0.0.0 (every network)."
        )
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return f"{where}: {reason}."
