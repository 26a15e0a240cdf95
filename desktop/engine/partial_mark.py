"""Text held back while a reply streams, because it may be the start of a mark (``<think>``,
``</think>``, ``<tool_call>`` …) that the next piece completes."""

from __future__ import annotations


def partial_mark_length(text: str, mark: str) -> int:
    """How many characters at the end of ``text`` could begin ``mark`` (0: none)."""
    for length in range(min(len(mark) - 1, len(text)), 0, -1):
        if mark.startswith(text[-length:]):
            return length
    return 0
