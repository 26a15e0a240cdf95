"""The chat's rolling window: which messages to leave out when a conversation outgrows the context.

A long conversation sooner or later no longer fits the context the model was loaded with. As
LM Studio's default and Ollama do, the chat then leaves the oldest exchanges out of what the
model is sent (the conversation itself keeps them): the system prompt stays, and so does the
last message of the user's, the one being answered. Exchanges are dropped whole (a message of
the user's with the replies after it), because many chat templates require user and assistant
turns to alternate.
"""

from __future__ import annotations

from collections.abc import Sequence

Message = dict[str, str]


def without_oldest_exchange(messages: Sequence[Message]) -> tuple[list[Message], int] | None:
    """``messages`` without their oldest exchange, and how many messages that left out; None
    when only the system prompt and the last exchange are left (nothing more can go)."""
    first = next((i for i, m in enumerate(messages) if m["role"] != "system"), len(messages))
    last_user = max(
        (i for i, m in enumerate(messages) if m["role"] == "user"), default=len(messages)
    )
    if first >= last_user:
        return None
    end = first + 1
    while end < last_user and messages[end]["role"] != "user":
        end += 1  # the replies (and anything else) up to the next message of the user's
    return [*messages[:first], *messages[end:]], end - first
