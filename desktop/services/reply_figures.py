"""A finished reply's figures in words, the same way in the chat, the compare view and the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from converter.figures import duration_text
from converter.storage import format_bytes

if TYPE_CHECKING:  # the engine's worker package loads llama.cpp: not while the window starts
    from desktop.engine.worker.results import ReplyStats


def reply_figures(stats: ReplyStats, *, prompt: bool = False, memory: bool = False) -> list[str]:
    """``["12 tokens", "first token 85 ms", "24.1 tokens/s", …]``: join them as the screen likes.

    ``prompt`` adds the prompt's size and speed and the whole reply's time; ``memory`` the
    worker's RAM (and VRAM when a GPU holds part of the model) after the reply.
    """
    parts = [
        f"{stats.generated_tokens} tokens",
        f"first token {duration_text(stats.time_to_first_token_seconds)}",
        f"{stats.generation_tokens_per_second:.1f} tokens/s",
    ]
    if prompt:
        parts.append(
            f"prompt {stats.prompt_tokens} tok ({stats.prompt_tokens_per_second:.0f} tok/s)"
        )
        parts.append(f"{duration_text(stats.total_seconds)} in all")
    if memory:
        parts.append(f"RAM {format_bytes(stats.ram_bytes)}")
        if stats.vram_bytes:
            parts.append(f"VRAM {format_bytes(stats.vram_bytes)}")
    return parts
