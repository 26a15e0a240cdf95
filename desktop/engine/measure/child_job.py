"""Run a child-process measurement as a :data:`~converter.progress.Job`.

:func:`converter.child_process.run_in_child` blocks and reports progress through a callback; a Job
must *yield* its progress. A helper thread runs the child and hands its events over through
a queue, so the generator can yield them as they come. Closing the generator early (the GUI
dropping a job) or cancelling the token stops the child before the generator ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from converter.child_process import run_in_child
from converter.progress import CancelToken, Job, Progress

R = TypeVar("R")
_POLL_SECONDS = 0.05
_FINISHED = object()


def child_job(
    target: Callable[..., R], *args: Any, what: str, cancel: CancelToken | None = None
) -> Job[R]:
    """``run_in_child(target, *args)`` as a generator that yields the child's Progress events."""
    events: queue.Queue[Any] = queue.Queue()
    stop = CancelToken()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = run_in_child(
                target, *args, what=what, on_event=events.put, cancel=stop
            )
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            events.put(_FINISHED)

    thread = threading.Thread(target=run, name=f"child job: {what}", daemon=True)
    thread.start()
    try:
        while True:
            if cancel is not None and cancel.cancelled:
                stop.cancel()
            try:
                event = events.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if event is _FINISHED:
                break
            if isinstance(event, Progress):
                yield event
    finally:
        stop.cancel()  # no effect once the child has answered; otherwise it stops the child
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
