"""``ReplyTicket``: one reply among several under way, to stop it alone and count its tokens.

:meth:`InferenceWorker.cancel` stops everything the worker is doing. A caller with several
replies at once (the chat's two panes) passes a ticket with each and stops one through it; a
ticket cancelled before its reply was sent stops that reply as soon as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class ReplyTicket:
    """A handle on one reply (usable from any thread); use one ticket for one reply."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: Callable[[], None] | None = None
        self._cancelled = False
        #: Tokens of this reply streamed so far (for a live tokens/s figure).
        self.streamed_tokens = 0

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop the reply at the worker's next step; it ends as a cancelled reply."""
        with self._lock:
            self._cancelled = True
            stop = self._stop
        if stop is not None:
            stop()

    def bind(self, stop: Callable[[], None]) -> None:
        """The reply was sent: ``stop`` ends it (called here at once if cancelled already)."""
        with self._lock:
            if self._stop is not None:
                raise RuntimeError("This ticket belongs to a reply already; use a new one.")
            self._stop = stop
            cancelled = self._cancelled
        if cancelled:
            stop()

    def release(self) -> None:
        """The reply ended: a late cancel does nothing."""
        with self._lock:
            self._stop = lambda: None
