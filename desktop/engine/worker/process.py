"""The parent's end of one worker child process: spawn, pipe, cancel flag, death, stop.

Kept apart from :class:`InferenceWorker` so the state machine there reads as the life cycle
of a model, not of a process. The child is spawned (not forked: a fork of a process that has
threads or a GUI is unsafe), so its entry point must be the module-level ``worker_main``.
"""

from __future__ import annotations

import ctypes
import multiprocessing
from typing import Any

from converter.child_process import describe_exit, start_child, stop_process
from desktop.engine.worker.child import worker_main

_SPAWN = multiprocessing.get_context("spawn")
_SHUTDOWN_GRACE_SECONDS = 2.0


class ChildDied(Exception):
    """The pipe closed because the child process ended (crash, abort, kill or stop)."""


class WorkerProcess:
    """A started child; ``send``/``receive`` requests and events, ``stop`` it when done."""

    def __init__(self) -> None:
        parent_conn, child_conn = _SPAWN.Pipe(duplex=True)
        self._cancel_flag: Any = _SPAWN.RawValue(ctypes.c_bool, False)
        # Through start_child: llama.cpp's libraries must load before numpy in the child.
        self._process = start_child(
            worker_main, child_conn, self._cancel_flag, name="quantdesk-inference"
        )
        child_conn.close()  # so that the child's death closes the pipe on our side
        self._conn = parent_conn

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process.is_alive() else None

    @property
    def cancel_requested(self) -> bool:
        return bool(self._cancel_flag.value)

    def request_cancel(self, wanted: bool = True) -> None:
        """Set (or clear) the flag the child checks between tokens; safe from any thread."""
        self._cancel_flag.value = wanted

    def send(self, request: object) -> None:
        try:
            self._conn.send(request)
        except OSError:
            raise ChildDied from None

    def receive(self) -> object:
        """The next event; raises :class:`ChildDied` once the child is gone."""
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            raise ChildDied from None

    def exit_description(self) -> str:
        """How the child ended: ``"crashed (SIGSEGV)"``, ``"exited with code 1"`` …"""
        self._process.join(5)
        return describe_exit(self._process.exitcode)

    def shutdown(self, request: object) -> None:
        """Ask an idle child to exit (sending ``request``), then make sure it has."""
        try:
            self._conn.send(request)
            self._process.join(_SHUTDOWN_GRACE_SECONDS)
        except OSError:
            pass
        self.stop()

    def stop(self, *, close_pipe: bool = True) -> None:
        """Terminate (then kill) and reap the child. A thread still reading the pipe sees
        EOF when the child is gone, so ``close_pipe=False`` leaves closing to that thread."""
        stop_process(self._process, grace_seconds=_SHUTDOWN_GRACE_SECONDS)
        if close_pipe:
            self._conn.close()
