"""The worker child process: holds one llama.cpp model and serves requests one at a time.

``worker_main`` is the process entry point (module level, so ``spawn`` and frozen bundles can
find it). It answers each request with events on the pipe and survives every error it can
catch; what it cannot (a segfault or abort inside llama.cpp, an OOM kill) ends the process,
and the parent notices the pipe closing. Cancel is a byte of shared memory the parent sets,
read between tokens, from the load-progress callback and from llama.cpp's abort callback.
"""

from __future__ import annotations

import multiprocessing.connection
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from converter.errors import QuantdeskError
from desktop.engine.worker.generation import generate
from desktop.engine.worker.loader import load_model
from desktop.engine.worker.protocol import (
    GenerateRequest,
    Loaded,
    LoadProgress,
    LoadRequest,
    ShutdownRequest,
    StreamedText,
    Unloaded,
    UnloadRequest,
    failure_for,
)

#: Longest a streamed piece waits in the child before it is sent (50 updates a second).
STREAM_INTERVAL_SECONDS = 0.02


class CoalescedStream:
    """Sends text to the parent at most every ``interval`` seconds; the first piece at once.

    A pipe message per token woke the parent once per token, which cost a CPU-bound
    generation 2.5% of its speed on a 2-core machine; 20 ms batches are not visible on screen
    and do not delay the first token.
    """

    def __init__(
        self, send: Callable[[StreamedText], None], interval: float = STREAM_INTERVAL_SECONDS
    ) -> None:
        self._send = send
        self._interval = interval
        self._pending: list[str] = []
        self._last_sent: float | None = None

    def __call__(self, piece: str) -> None:
        self._pending.append(piece)
        now = time.perf_counter()
        if self._last_sent is None or now - self._last_sent >= self._interval:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self._pending:
            self._send(StreamedText("".join(self._pending), len(self._pending)))
            self._pending.clear()
            self._last_sent = time.perf_counter() if now is None else now


class _ModelHost:
    """The child's state: at most one open model."""

    def __init__(self, conn: multiprocessing.connection.Connection, cancel_flag: Any) -> None:
        self._conn = conn
        self._cancel_flag = cancel_flag
        self._llama: Any = None

    def cancelled(self) -> bool:
        return bool(self._cancel_flag.value)

    def handle(self, request: object) -> None:
        if isinstance(request, LoadRequest):
            self.unload()
            self._llama, info = load_model(
                Path(request.path),
                request.settings,
                on_progress=lambda fraction: self._conn.send(LoadProgress(fraction)),
                cancelled=self.cancelled,
            )
            self._conn.send(Loaded(info))
        elif isinstance(request, GenerateRequest):
            if self._llama is None:
                raise QuantdeskError("No model is loaded in the worker; load one first.")
            stream = CoalescedStream(self._conn.send)
            try:
                timings = generate(
                    self._llama, request, cancelled=self.cancelled, send_piece=stream
                )
            finally:
                stream.flush()  # text streamed before an error still reaches the caller
            self._conn.send(timings)
        elif isinstance(request, UnloadRequest):
            self.unload()
            self._conn.send(Unloaded())
        else:
            raise QuantdeskError(
                f"The worker got a request it does not know: {type(request).__name__}."
            )

    def unload(self) -> None:
        if self._llama is not None:
            llama, self._llama = self._llama, None
            llama.close()


def worker_main(conn: multiprocessing.connection.Connection, cancel_flag: Any) -> None:
    """Serve requests until told to stop or until the parent goes away.

    Ctrl-C in a terminal reaches the whole process group; the parent decides what it means
    (usually "cancel this reply"), so the child ignores it instead of dying.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    host = _ModelHost(conn, cancel_flag)
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return  # the parent is gone
            if isinstance(request, ShutdownRequest):
                return
            try:
                host.handle(request)
            except (BrokenPipeError, ConnectionResetError):
                return
            except Exception as exc:
                conn.send(failure_for(exc))
    finally:
        host.unload()
        conn.close()
