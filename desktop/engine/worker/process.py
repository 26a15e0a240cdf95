"""The parent's end of one worker child process: spawn, pipe, cancel flag, death, stop.

Kept apart from :class:`InferenceWorker` so the state machine there reads as the life cycle
of a model, not of a process. The child is spawned (not forked: a fork of a process that has
threads or a GUI is unsafe), so its entry point must be the module-level ``worker_main``.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import queue
import threading
from typing import Any

from converter.child_process import describe_exit, start_child, stop_process
from desktop.engine.worker.child import worker_main

_SPAWN = multiprocessing.get_context("spawn")
_SHUTDOWN_GRACE_SECONDS = 2.0


class ChildDied(Exception):
    """The pipe closed because the child process ended (crash, abort, kill or stop)."""


#: Put in every reader's queue when the pipe closes.
_PIPE_CLOSED = object()


class WorkerProcess:
    """A started child; ``send`` requests, ``receive`` events, ``stop`` it when done.

    Several replies may be under way at once, so one thread reads the pipe and routes each
    event to the queue of its ``request_id`` (0: loads and unloads); each caller reads only
    its own queue (:meth:`open_channel` first).
    """

    def __init__(self) -> None:
        parent_conn, child_conn = _SPAWN.Pipe(duplex=True)
        self._cancel_flag: Any = _SPAWN.RawValue(ctypes.c_bool, False)
        # Through start_child: llama.cpp's libraries must load before numpy in the child.
        self._process = start_child(
            worker_main, child_conn, self._cancel_flag, name="quantdesk-inference"
        )
        child_conn.close()  # so that the child's death closes the pipe on our side
        self._conn = parent_conn
        self._send_lock = threading.Lock()
        self._channels_lock = threading.Lock()
        self._channels: dict[int, queue.SimpleQueue[object]] = {0: queue.SimpleQueue()}
        self._closed = False
        self._reader = threading.Thread(
            target=self._read_events, name="quantdesk-worker-events", daemon=True
        )
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self._process.is_alive() and not self._closed

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process.is_alive() else None

    @property
    def cancel_requested(self) -> bool:
        return bool(self._cancel_flag.value)

    def request_cancel(self, wanted: bool = True) -> None:
        """Set (or clear) the flag the child checks between steps; safe from any thread."""
        self._cancel_flag.value = wanted

    def send(self, request: object) -> None:
        try:
            with self._send_lock:
                self._conn.send(request)
        except OSError:
            raise ChildDied from None

    def open_channel(self, request_id: int) -> None:
        """Start keeping the events of ``request_id`` for :meth:`receive`."""
        with self._channels_lock:
            channel: queue.SimpleQueue[object] = queue.SimpleQueue()
            if self._closed:
                channel.put(_PIPE_CLOSED)
            self._channels[request_id] = channel

    def close_channel(self, request_id: int) -> None:
        with self._channels_lock:
            self._channels.pop(request_id, None)

    def receive(self, request_id: int = 0) -> object:
        """The next event of ``request_id``; raises :class:`ChildDied` once the child is gone."""
        with self._channels_lock:
            channel = self._channels[request_id]
        event = channel.get()
        if event is _PIPE_CLOSED:
            channel.put(_PIPE_CLOSED)  # every later receive raises too
            raise ChildDied
        return event

    def _read_events(self) -> None:
        try:
            while True:
                event = self._conn.recv()
                with self._channels_lock:
                    channel = self._channels.get(getattr(event, "request_id", 0))
                if channel is not None:  # else: a reply whose caller has gone
                    channel.put(event)
        except (EOFError, OSError):
            pass
        finally:
            with self._channels_lock:
                self._closed = True
                for channel in self._channels.values():
                    channel.put(_PIPE_CLOSED)

    def exit_description(self) -> str:
        """How the child ended: ``"crashed (SIGSEGV)"``, ``"exited with code 1"`` …"""
        self._process.join(5)
        return describe_exit(self._process.exitcode)

    def shutdown(self, request: object) -> None:
        """Ask an idle child to exit (sending ``request``), then make sure it has."""
        try:
            self.send(request)
            self._process.join(_SHUTDOWN_GRACE_SECONDS)
        except ChildDied:
            pass
        self.stop()

    def stop(self, *, close_pipe: bool = True) -> None:
        """Terminate (then kill) and reap the child; the reader thread then sees end-of-file
        and wakes every caller waiting for an event. ``close_pipe=False`` (a caller's thread
        may still be busy with an event) only stops the child."""
        stop_process(self._process, grace_seconds=_SHUTDOWN_GRACE_SECONDS)
        if close_pipe and threading.current_thread() is not self._reader:
            self._reader.join(_SHUTDOWN_GRACE_SECONDS)
            self._conn.close()
