"""Run a child-process measurement as a :data:`~converter.progress.Job`.

:func:`converter.child_process.run_in_child` blocks and reports progress through a callback;
:func:`converter.progress.blocking_job` turns it into a generator that yields the child's
progress as it comes. Closing the generator early (the GUI dropping a job) or cancelling the
token stops the child.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from converter.child_process import run_in_child
from converter.progress import CancelToken, Job, Progress, blocking_job

R = TypeVar("R")


def child_job(
    target: Callable[..., R], *args: Any, what: str, cancel: CancelToken | None = None
) -> Job[R]:
    """``run_in_child(target, *args)`` as a generator that yields the child's Progress events."""

    def run(report: Callable[[Progress], None], stop: CancelToken) -> R:
        return run_in_child(target, *args, what=what, on_event=report, cancel=stop)

    return (yield from blocking_job(run, name=f"child job: {what}", cancel=cancel))
