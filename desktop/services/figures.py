"""Measured figures in words, the same way on every screen."""

from __future__ import annotations


def duration_text(seconds: float) -> str:
    """``0.004`` → ``"4 ms"``, ``1.234`` → ``"1.23 s"``: a fast first token never reads 0.00 s."""
    if seconds < 0.1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"
