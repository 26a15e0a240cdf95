"""Measured figures in words, the same way on every screen."""

from __future__ import annotations


def duration_text(seconds: float) -> str:
    """``0.004`` → ``"4 ms"``, ``1.234`` → ``"1.23 s"``: a fast first token never reads 0.00 s."""
    if seconds < 0.1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def span_text(seconds: float) -> str:
    """A longer wait in words: ``42`` → ``"42 s"``, ``125`` → ``"2 min 05 s"``, an hour and
    five minutes → ``"1 h 05 min"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
