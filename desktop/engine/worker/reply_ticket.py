"""``ReplyTicket``: one reply among several under way, to stop it alone and count its tokens.

:meth:`InferenceWorker.cancel` stops everything the worker is doing. A caller with several
replies at once (the chat's two panes) passes a ticket with each and stops one through it; a
ticket cancelled before its reply was sent stops that reply as soon as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class ReplyTicket:
    """A handle on one reply (usable from any thread), one request at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: Callable[[], None] | None = None
        self._cancelled = False
        #: Tokens of this reply streamed so far (for a live tokens/s figure).
        self.streamed_tokens = 0

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
                raise RuntimeError("This ticket's reply is under way; use a new ticket.")
            self._stop = stop
            cancelled = self._cancelled
        if cancelled:
            stop()

    def release(self) -> None:
        """The request ended: a later cancel only marks the ticket. A reply asked for again
        with the same ticket (a shorter prompt after one too long) binds it anew, and a cancel
        made meanwhile stops it at once."""
        with self._lock:
            self._stop = None
