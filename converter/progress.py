"""Progress events and cooperative cancellation shared by every long job.

Long jobs are generators that ``yield`` :class:`Progress` and ``return`` their result, in the
manner of superqt's ``thread_worker``: the GUI runs them in a worker thread, the CLI draws a
terminal bar, tests just drain them. Cancel is cooperative: the job checks a
:class:`CancelToken` between steps and raises :class:`~converter.errors.Cancelled`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TypeVar

from converter.errors import Cancelled

T = TypeVar("T")
E = TypeVar("E")


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


def run_job(job: Generator[E, None, T], on_progress: Callable[[E], None] | None = None) -> T:
    """Drive a job generator to the end, passing each event on, and return its result."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)


_FINISHED = object()


def blocking_job(
    call: Callable[[Callable[[Progress], None], CancelToken], T],
    *,
    name: str,
    cancel: CancelToken | None = None,
    poll: Callable[[], Iterator[Progress]] | None = None,
    poll_seconds: float = 0.05,
) -> Job[T]:
    """A blocking ``call(report, stop)`` as a job: the one adapter from callbacks to generators.

    ``call`` runs on a helper thread; every :class:`Progress` it passes to ``report`` is
    yielded as it comes, and its return value is the job's. ``stop`` is cancelled when
    ``cancel`` is, or when the job is closed early (the GUI dropping it), so the call can end
    its work. ``poll``, if given, is asked for progress between reports (a file's growth, say).
    An exception in the call is raised again from the job.
    """
    events: queue.Queue[object] = queue.Queue()
    stop = CancelToken()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call(events.put, stop))
        except BaseException as exc:  # raised again on the job's side below
            failure.append(exc)
        finally:
            events.put(_FINISHED)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            if cancel is not None and cancel.cancelled:
                stop.cancel()
            try:
                event = events.get(timeout=poll_seconds)
            except queue.Empty:
                event = None
            if poll is not None:
                yield from poll()
            if event is _FINISHED:
                break
            if isinstance(event, Progress):
                yield event
    finally:
        if thread.is_alive():
            stop.cancel()
            thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
