"""The store behind ``previous_response_id``: conversations rebuilt from linked turns, the
least recently used response dropped first."""

from __future__ import annotations

from typing import Any

import pytest

from desktop.engine.server.response_store import ConversationGone, KeptResponse, ResponseStore


def _turn(response_id: str, said: str, answer: str, previous: str | None) -> KeptResponse:
    output = [{"type": "message", "role": "assistant", "content": answer}]
    response: dict[str, Any] = {"id": response_id, "output": output}
    return KeptResponse(response, ({"role": "user", "content": said},), previous)


def test_a_conversation_is_its_turns_in_order() -> None:
    store = ResponseStore()
    store.keep(_turn("a", "1", "one", None))
    store.keep(_turn("b", "2", "two", "a"))
    store.keep(_turn("c", "3", "three", "b"))
    texts = [item["content"] for item in store.conversation("c")]
    assert texts == ["1", "one", "2", "two", "3", "three"]
    assert [item["content"] for item in store.conversation("a")] == ["1", "one"]
    assert store.delete("b") and not store.delete("b")
    with pytest.raises(ConversationGone) as gone:
        store.conversation("c")
    assert gone.value.response_id == "b"


def test_the_least_recently_used_goes_first() -> None:
    store = ResponseStore(capacity=2)
    store.keep(_turn("a", "1", "one", None))
    store.keep(_turn("b", "2", "two", None))
    assert store.get("a") is not None  # "a" is used again: "b" is now the oldest
    store.keep(_turn("c", "3", "three", None))
    assert len(store) == 2 and store.get("b") is None and store.get("a") is not None
    with pytest.raises(ValueError):
        ResponseStore(capacity=0)
