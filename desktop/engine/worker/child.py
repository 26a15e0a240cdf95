"""The worker child process: holds one llama.cpp model and answers replies, several at once.

``worker_main`` is the process entry point (module level, so ``spawn`` and frozen bundles can
find it). It answers each request with events on the pipe and survives every error it can
catch; what it cannot (a segfault or abort inside llama.cpp, an OOM kill) ends the process,
and the parent notices the pipe closing. One reply is cancelled by a message; everything by
a byte of shared memory the parent sets, read between decode steps, from the load-progress
callback and from llama.cpp's abort callback.
"""

from __future__ import annotations

import multiprocessing.connection
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from converter.errors import QuantdeskError
from desktop.engine.worker.decode_loop import DecodeLoop, SendPiece
from desktop.engine.worker.embedding import TextEmbedder, vector_bytes
from desktop.engine.worker.loader import load_model
from desktop.engine.worker.protocol import (
    CancelReply,
    DetokenizeRequest,
    Embedded,
    EmbedRequest,
    GenerateRequest,
    Loaded,
    LoadProgress,
    LoadRequest,
    ShutdownRequest,
    StreamedText,
    TokenizeRequest,
    Unloaded,
    UnloadRequest,
    failure_for,
)
from desktop.engine.worker.results import TokenLogprobs
from desktop.engine.worker.token_text import token_text

#: Longest a streamed piece waits in the child before it is sent (50 updates a second).
STREAM_INTERVAL_SECONDS = 0.02


class CoalescedStream:
    """Sends text to the parent at most every ``interval`` seconds; the first piece at once.

    A pipe message per token woke the parent once per token, which cost a CPU-bound
    generation 2.5% of its speed on a 2-core machine; 20 ms batches are not visible on screen
    and do not delay the first token. Log-probabilities, when a reply asked for them, travel
    in the same message as the text they spell.
    """

    def __init__(
        self, send: Callable[[StreamedText], None], interval: float = STREAM_INTERVAL_SECONDS
    ) -> None:
        self._send = send
        self._interval = interval
        self._pending: list[str] = []
        self._pending_logprobs: list[TokenLogprobs] = []
        self._last_sent: float | None = None

    def __call__(self, piece: str, logprobs: tuple[TokenLogprobs, ...] = ()) -> None:
        if piece:
            self._pending.append(piece)
        self._pending_logprobs.extend(logprobs)
        now = time.perf_counter()
        if self._last_sent is None or now - self._last_sent >= self._interval:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self._pending or self._pending_logprobs:
            text = "".join(self._pending)
            self._send(StreamedText(text, len(self._pending), 0, tuple(self._pending_logprobs)))
            self._pending.clear()
            self._pending_logprobs.clear()
            self._last_sent = time.perf_counter() if now is None else now


class _ModelHost:
    """The child's state: at most one open model, and the decode loop answering on it."""

    def __init__(self, conn: multiprocessing.connection.Connection, cancel_flag: Any) -> None:
        self._conn = conn
        self._cancel_flag = cancel_flag
        self._llama: Any = None
        self._loop: DecodeLoop | None = None
        self._embedder: TextEmbedder | None = None
        self._streams: dict[int, CoalescedStream] = {}

    @property
    def busy(self) -> bool:
        """Replies are under way: keep stepping, and read requests only when they are there."""
        return self._loop is not None and self._loop.busy

    def cancelled(self) -> bool:
        return bool(self._cancel_flag.value)

    def handle(self, request: object) -> None:
        if isinstance(request, GenerateRequest):
            try:
                if self._loop is None:
                    raise QuantdeskError("No model is loaded in the worker; load one first.")
                self._loop.submit(request)
            except Exception as exc:
                self._conn.send(failure_for(exc, request.request_id))
        elif isinstance(request, CancelReply):
            if self._loop is not None:
                self._loop.cancel(request.request_id)
        elif isinstance(request, (TokenizeRequest, DetokenizeRequest)):
            try:  # answered between decode steps, also while replies run
                if self._llama is None:
                    raise QuantdeskError("No model is loaded in the worker; load one first.")
                self._conn.send(token_text(self._llama, request))
            except Exception as exc:
                self._conn.send(failure_for(exc, request.request_id))
        elif isinstance(request, EmbedRequest):
            try:  # answered between decode steps, also while replies run
                self._conn.send(self._embed(request))
            except Exception as exc:
                self._conn.send(failure_for(exc, request.request_id))
        elif self.busy:
            raise QuantdeskError("The worker is still answering; wait for the replies to end.")
        elif isinstance(request, LoadRequest):
            self.unload()
            self._llama, info = load_model(
                Path(request.path),
                request.settings,
                on_progress=lambda fraction: self._conn.send(LoadProgress(fraction)),
                cancelled=self.cancelled,
            )
            self._loop = DecodeLoop(
                self._llama,
                slots=request.settings.parallel,
                send=self._send_event,
                open_stream=self._open_stream,
                cancelled=self.cancelled,
            )
            self._conn.send(Loaded(info))
        elif isinstance(request, UnloadRequest):
            self.unload()
            self._conn.send(Unloaded())
        else:
            raise QuantdeskError(
                f"The worker got a request it does not know: {type(request).__name__}."
            )

    def _embed(self, request: EmbedRequest) -> Embedded:
        if self._llama is None:
            raise QuantdeskError("No model is loaded in the worker; load one first.")
        if self._embedder is None:
            self._embedder = TextEmbedder(self._llama)
        vectors, tokens = self._embedder.embed(request.texts)
        return Embedded(request.request_id, tuple(vector_bytes(v) for v in vectors), tokens)

    def step(self) -> None:
        assert self._loop is not None
        try:
            self._loop.step()
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as exc:
            self._loop.fail_all(exc, failure_for)
            self._streams.clear()

    def _open_stream(self, request_id: int) -> tuple[SendPiece, Callable[[], None]]:
        def send(text: StreamedText) -> None:
            self._conn.send(StreamedText(text.text, text.tokens, request_id, text.logprobs))

        stream = CoalescedStream(send)
        self._streams[request_id] = stream
        return stream, stream.flush

    def _send_event(self, event: object) -> None:
        self._streams.pop(getattr(event, "request_id", -1), None)
        self._conn.send(event)

    def unload(self) -> None:
        if self._embedder is not None:  # its context goes before the model
            embedder, self._embedder = self._embedder, None
            embedder.close()
        if self._loop is not None:
            loop, self._loop = self._loop, None
            loop.close()
        if self._llama is not None:
            llama, self._llama = self._llama, None
            llama.close()


def worker_main(conn: multiprocessing.connection.Connection, cancel_flag: Any) -> None:
    """Serve requests until told to stop or until the parent goes away.

    While replies are under way the child decodes a step, then reads whatever requests have
    arrived meanwhile (new replies join the next step); otherwise it waits for a request.
    Ctrl-C in a terminal reaches the whole process group; the parent decides what it means
    (usually "cancel this reply"), so the child ignores it instead of dying.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    host = _ModelHost(conn, cancel_flag)
    try:
        while True:
            try:
                if host.busy:
                    host.step()
                    arrived = conn.poll(0)
                else:
                    arrived = conn.poll(None)  # idle: wait for the next request
                while arrived:  # every request that has arrived joins the next step
                    request = conn.recv()
                    if isinstance(request, ShutdownRequest):
                        return
                    try:
                        host.handle(request)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    except Exception as exc:
                        conn.send(failure_for(exc))
                    arrived = conn.poll(0)
            except (EOFError, OSError):
                return  # the parent is gone
    finally:
        host.unload()
        conn.close()
