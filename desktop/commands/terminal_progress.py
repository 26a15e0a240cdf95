"""The one progress line every ``quantdesk`` command draws on stderr.

On a terminal the line is redrawn in place (carriage return, erase to the end of the line) and
cut to the terminal's width; on a pipe or a log, where redrawing would leave a smear of
carriage returns, one plain line is written as each stage starts. Status lines (``line``)
take the progress line's place, so notes and progress never overwrite each other.
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO

from converter.progress import Progress

_BAR_WIDTH = 24
_STAGE_WIDTH = 16
_ERASE_LINE = "\r\x1b[K"
_DIM, _RESET = "\x1b[2m", "\x1b[0m"


def progress_text(event: Progress) -> str:
    """``quantize Q4_K_M  [######..........]  25%  12/48 tensors  blk.3.ffn_up.weight``.

    Without a known total the bar is left out. Counts are left out for an event with no
    ``unit``, and for ``bytes``: byte-counted jobs (downloads) already say the amount, the
    speed and the time left in their message.
    """
    parts = [event.stage.ljust(_STAGE_WIDTH)]
    fraction = event.fraction
    if fraction is not None:
        filled = int(_BAR_WIDTH * min(max(fraction, 0.0), 1.0))
        parts.append(f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {fraction:4.0%}")
    if event.unit and event.unit != "bytes" and (event.total > 0 or event.done > 0):
        total = f"/{event.total}" if event.total > 0 else ""
        parts.append(f"{event.done}{total} {event.unit}")
    if event.message:
        parts.append(event.message)
    return "  ".join(parts)


class TerminalProgress:
    """Progress of a long job and status lines on one stream (stderr).

    ``dim`` greys the status lines on a terminal (``quantdesk chat`` keeps stdout for the
    conversation and dims its own notes). Call :meth:`close` when the job ends, error or not.
    """

    def __init__(self, stream: TextIO, *, dim: bool = False) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._dim = dim and self._tty
        self._drawn = False
        self._stage: str | None = None

    def show(self, event: Progress) -> None:
        """Draw ``event``: in place on a terminal, else a plain line when a new stage starts."""
        if self._tty:
            text = progress_text(event)[: self._columns() - 1]
            self._stream.write(f"{_ERASE_LINE}{self._styled(text)}")
            self._drawn = True
        elif event.stage != self._stage:
            text = f"{event.stage}: {event.message}" if event.message else event.stage
            self._stream.write(f"{text}\n")
        self._stage = event.stage
        self._stream.flush()

    def line(self, text: str) -> None:
        """A status line; on a terminal it replaces the progress line drawn so far."""
        if self._drawn:
            self._stream.write(_ERASE_LINE)
            self._drawn = False
        self._stream.write(f"{self._styled(text)}\n")
        self._stream.flush()

    def close(self) -> None:
        """End the progress line, leaving its last state on the screen."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def _columns(self) -> int:
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError):  # no file descriptor, or not a terminal after all
            columns = 0
        return columns if columns >= 40 else shutil.get_terminal_size().columns

    def _styled(self, text: str) -> str:
        return f"{_DIM}{text}{_RESET}" if self._dim else text
