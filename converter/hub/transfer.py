"""Progress events for downloads: bytes, speed and time left, sent a few times a second."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from converter.figures import span_text
from converter.progress import Progress
from converter.storage import format_bytes

#: Seconds between two progress events (a GUI redraws at most this often).
PROGRESS_INTERVAL_S = 0.1
#: Speed is averaged over this window, so one slow chunk does not make the estimate jump.
SPEED_WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class DownloadProgress(Progress):
    """A :class:`Progress` in bytes that also carries the file, the speed and the time left."""

    file: str = ""
    bytes_per_second: float = 0.0
    seconds_left: float | None = None


class RateMeter:
    """Turns a running byte count into throttled :class:`DownloadProgress` events."""

    def __init__(self, start_bytes: int) -> None:
        now = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque([(now, start_bytes)])
        self._last_event = 0.0

    def due(self) -> bool:
        return time.monotonic() - self._last_event >= PROGRESS_INTERVAL_S

    def event(self, name: str, done: int, total: int | None, *, note: str = "") -> DownloadProgress:
        now = time.monotonic()
        self._last_event = now
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW_S:
            self._samples.popleft()
        first_time, first_bytes = self._samples[0]
        elapsed = now - first_time
        speed = (done - first_bytes) / elapsed if elapsed > 0 else 0.0
        left = (total - done) / speed if total and speed > 0 else None
        return DownloadProgress(
            stage="download",
            done=done,
            total=total or 0,
            unit="bytes",
            message=note or _describe(name, done, total, speed, left),
            file=name,
            bytes_per_second=speed,
            seconds_left=left,
        )


def _describe(name: str, done: int, total: int | None, speed: float, left: float | None) -> str:
    amount = f"{format_bytes(done)} of {format_bytes(total)}" if total else format_bytes(done)
    rate = f", {format_bytes(speed)}/s" if speed > 0 else ""
    eta = f", {span_text(left)} left" if left is not None else ""
    return f"{name}: {amount}{rate}{eta}"
