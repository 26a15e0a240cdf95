"""One level's turn in a comparison: load it in its own worker, answer the prompt, close.

Plain Python (no Qt) so it runs in a pool thread; events go out through ``emit``: the load's
:class:`~converter.progress.Progress`, a :class:`RunStatus` line, each :class:`ReplyPiece` of
text, and the reply's stats at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from converter.errors import Cancelled
from converter.progress import Progress

if TYPE_CHECKING:  # the worker package is imported when a level runs, not at start-up
    from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings
    from desktop.engine.worker.results import ReplyStats


@dataclass(frozen=True, slots=True)
class RunStatus:
    """What the level is doing: "loading", "answering (on the CPU)" …"""

    text: str


@dataclass(frozen=True, slots=True)
class ReplyPiece:
    """The next piece of the level's reply."""

    text: str


RunEvent = Union[Progress, RunStatus, ReplyPiece, "ReplyStats"]
Emit = Callable[[RunEvent], None]


class LevelRun:
    """Runs in a GUI thread task (desktop.ui.thread_tasks); :meth:`stop` works from any thread."""

    def __init__(
        self,
        path: Path,
        prompt: str,
        load_settings: LoadSettings,
        sampling: SamplingSettings,
        *,
        after: threading.Event | None = None,
    ) -> None:
        self.path, self.prompt = path, prompt
        self.load_settings, self.sampling = load_settings, sampling
        self.after = after  # wait for the previous level to free its memory first
        self.done = threading.Event()
        self._stopped = threading.Event()
        self._engine: InferenceWorker | None = None

    def stop(self) -> None:
        self._stopped.set()
        engine = self._engine
        if engine is not None:
            engine.cancel()

    def __call__(self, emit: Emit) -> ReplyStats:
        from desktop.engine.worker import InferenceWorker

        try:
            if self.after is not None:
                emit(RunStatus("waiting for the previous level to finish"))
                while not self.after.wait(0.1):
                    if self._stopped.is_set():
                        raise Cancelled("The comparison")
            if self._stopped.is_set():
                raise Cancelled("The comparison")
            with InferenceWorker() as engine:
                self._engine = engine
                emit(RunStatus("loading"))
                info = engine.load(
                    self.path,
                    self.load_settings,
                    on_progress=emit,
                )
                if self._stopped.is_set():
                    raise Cancelled("The comparison")
                layers = info.model.n_layers
                where = (
                    "on the CPU"
                    if info.gpu_layers == 0
                    else f"{info.gpu_layers} of {layers} layers on the GPU"
                )
                emit(RunStatus(f"answering ({where})"))
                messages = [{"role": "user", "content": self.prompt}]
                stats = engine.chat(messages, self.sampling, on_token=lambda t: emit(ReplyPiece(t)))
            # Reported before ``done`` lets the next level start, so the view never shows this
            # level still answering while the next one loads.
            emit(stats)
            return stats
        finally:
            self._engine = None
            self.done.set()
