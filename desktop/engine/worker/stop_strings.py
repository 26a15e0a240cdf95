"""Cutting a streamed reply at stop strings (a chat template's, or an API client's) without
ever sending past one.

A stop string can arrive split over several pieces ("</" then "end>"), so the tail of the
text that could still turn into a stop string is held back until the next piece decides it.
"""

from __future__ import annotations


class StopCutter:
    """Feed pieces with :meth:`push`; send what it returns; call :meth:`finish` at the end."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self._held = ""
        self.stopped = False

    def push(self, piece: str) -> str:
        """The text that is safe to send now (nothing once a stop string has been seen)."""
        if self.stopped:
            return ""
        text = self._held + piece
        if not self._stops:
            return text
        cut = min((at for stop in self._stops if (at := text.find(stop)) >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        keep = self._possible_stop_start(text)
        self._held = text[len(text) - keep :]
        return text[: len(text) - keep]

    def finish(self) -> str:
        """What was held back, now known not to start a stop string (the reply has ended)."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def _possible_stop_start(self, text: str) -> int:
        """Length of the longest end of ``text`` that is the beginning of some stop string."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest
