"""Text completion: how a base model (one without a chat template) is talked to.

A base model was never trained on turns, so the chat and the terminal chat send it the
conversation's text as one piece and the model writes on from where it ends; the system prompt,
which has no place in a plain text, is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def completion_prompt(messages: Sequence[Mapping[str, str]]) -> str:
    """The conversation's text as one piece: its messages' contents, without the system prompt."""
    return "".join(m["content"] for m in messages if m["role"] in ("user", "assistant"))
