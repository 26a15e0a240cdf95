"""Responses kept on the server, so a client can go on from one with ``previous_response_id``
(OpenAI's Responses API keeps them; LM Studio's server does too).

Each kept response holds its own input items, its output items and the id of the response it
went on from, not the whole conversation: a conversation of n turns costs n entries, not n².
A conversation is rebuilt by walking those links back. The store holds the last
:data:`KEPT_RESPONSES` responses used (reading one through a conversation counts as use), in
memory only: they are gone when the server stops. Used from the server's event loop only.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: How many responses are kept; the one used longest ago goes first.
KEPT_RESPONSES = 1000


@dataclass(frozen=True)
class KeptResponse:
    """One response as ``GET /v1/responses/{id}`` gives it, and what it went on from."""

    response: Mapping[str, Any]
    input_items: tuple[Mapping[str, Any], ...]
    previous_id: str | None


class ConversationGone(LookupError):
    """The response asked for, or one before it in its conversation, is not kept."""

    def __init__(self, response_id: str) -> None:
        super().__init__(response_id)
        self.response_id = response_id


class ResponseStore:
    """Kept responses by id, the least recently used dropped beyond ``capacity``."""

    def __init__(self, capacity: int = KEPT_RESPONSES) -> None:
        if capacity < 1:
            raise ValueError("A response store must keep at least one response.")
        self._capacity = capacity
        self._kept: collections.OrderedDict[str, KeptResponse] = collections.OrderedDict()

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, kept: KeptResponse) -> None:
        response_id = kept.response["id"]
        self._kept[response_id] = kept
        self._kept.move_to_end(response_id)
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)

    def get(self, response_id: str) -> KeptResponse | None:
        kept = self._kept.get(response_id)
        if kept is not None:
            self._kept.move_to_end(response_id)
        return kept

    def delete(self, response_id: str) -> bool:
        return self._kept.pop(response_id, None) is not None

    def conversation(self, response_id: str) -> list[Mapping[str, Any]]:
        """Every input and output item up to and including ``response_id``'s, oldest first;
        raises :class:`ConversationGone` naming the first response that is not kept."""
        turns: list[KeptResponse] = []
        seen: set[str] = set()
        next_id: str | None = response_id
        while next_id is not None and next_id not in seen:
            seen.add(next_id)
            kept = self.get(next_id)
            if kept is None:
                raise ConversationGone(next_id)
            turns.append(kept)
            next_id = kept.previous_id
        items: list[Mapping[str, Any]] = []
        for kept in reversed(turns):
            items += kept.input_items
            items += kept.response.get("output") or []
        return items
