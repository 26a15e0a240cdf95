"""Run blocking work off the GUI thread, in the manner of superqt's ``thread_worker``.

A :class:`ThreadTask` is a ``QRunnable`` that calls ``work(emit)`` in the global thread pool.
Whatever ``work`` passes to ``emit`` arrives on the GUI thread through ``yielded``; its return
value arrives through ``returned``, an exception through ``errored``; ``finished`` always comes
last. Qt delivers the signals through the receivers' event loop, so slots may touch widgets.
Cancel is cooperative: ``cancel()`` sets the worker's :class:`CancelToken`, which the work
passes on to the engine (jobs raise ``Cancelled``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from converter.progress import CancelToken, run_job

Emit = Callable[[Any], None]
#: What the work returns: ``ThreadTask[LoadInfo]`` delivers a LoadInfo through ``returned``.
R = TypeVar("R")


class ThreadTaskSignals(QObject):
    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    finished = Signal()


class ThreadTask(QRunnable, Generic[R]):
    """One piece of blocking work; start it once with :meth:`start`.

    Qt's signals carry plain objects, so ``signals.returned`` cannot say what the work
    returns; :meth:`on_returned` connects a slot that the type checker matches against it.
    """

    #: Workers still running; keeps their signal objects alive until ``finished``.
    _running: ClassVar[set[ThreadTask[Any]]] = set()

    def __init__(self, work: Callable[[Emit], R], *, cancel: CancelToken | None = None) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.signals = ThreadTaskSignals()
        # Connected first, so ``done`` is already True in every other ``finished`` slot.
        self.signals.finished.connect(self._forget)
        self.cancel_token = cancel or CancelToken()
        self._work = work
        self._started = False
        #: True once ``finished`` has reached the GUI thread, so every result, error and
        #: progress signal the work sent has been handled by then (not merely sent).
        self.done = False

    def on_returned(self, slot: Callable[[R], object]) -> None:
        """Call ``slot`` with the work's result, on the GUI thread."""
        self.signals.returned.connect(slot)

    def start(self, pool: QThreadPool | None = None) -> ThreadTask[R]:
        if self._started:
            raise RuntimeError("A worker runs only once; create a new one.")
        self._started = True
        ThreadTask._running.add(self)
        (pool or QThreadPool.globalInstance()).start(self)
        return self

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def run(self) -> None:  # on a pool thread
        signals = self.signals
        signals.started.emit()
        try:
            result = self._work(signals.yielded.emit)
        except BaseException as exc:  # every failure is reported to the GUI
            signals.errored.emit(exc)
        else:
            signals.returned.emit(result)
        finally:
            signals.finished.emit()

    def _forget(self) -> None:  # on the GUI thread, after every earlier signal
        self.done = True
        ThreadTask._running.discard(self)


def job_worker(make_job: Callable[[CancelToken], Generator[Any, None, R]]) -> ThreadTask[R]:
    """A worker that drives the job ``make_job(cancel)``; its events (``Progress``, or the
    conversion pipeline's ``StepProgress``) arrive on ``yielded``."""
    token = CancelToken()
    return ThreadTask(lambda emit: run_job(make_job(token), emit), cancel=token)


def call_worker(fn: Callable[..., R], *args: Any, **kwargs: Any) -> ThreadTask[R]:
    """A worker that calls ``fn(*args, **kwargs)`` once (no progress)."""
    return ThreadTask(lambda _emit: fn(*args, **kwargs))


def running_workers() -> int:
    return len(ThreadTask._running)
