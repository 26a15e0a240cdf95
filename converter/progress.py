"""Progress events and cooperative cancellation shared by every long job.

Long jobs are generators that ``yield`` :class:`Progress` and ``return`` their result, in the
manner of superqt's ``thread_worker``: the GUI runs them in a worker thread, the CLI draws a
terminal bar, tests just drain them. Cancel is cooperative: the job checks a
:class:`CancelToken` between steps and raises :class:`~converter.errors.Cancelled`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

from converter.errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Progress:
    """One step of a long job.

    ``done``/``total`` count ``unit`` (``"tensors"``, ``"bytes"`` …); ``total`` is 0 when unknown.
    ``stage`` names the step (``"convert"``, ``"quantize Q4_K_M"``, ``"download"``) and
    ``message`` is a short line for a log.
    """

    stage: str
    done: int
    total: int
    unit: str = "tensors"
    message: str = ""

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total > 0 else None


Job = Generator[Progress, None, T]


class CancelToken:
    """Thread-safe flag a job checks between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, what: str = "The job") -> None:
        if self._event.is_set():
            raise Cancelled(what)


def run_job(job: Job[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Drive a job generator to the end, passing each event on, and return its result."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)
