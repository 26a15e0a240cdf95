"""The rolling window's choice of messages: oldest exchanges first, whole, never the system
prompt or the message being answered."""

from __future__ import annotations

from desktop.services.context_window import without_oldest_exchange


def _m(role: str, text: str) -> dict[str, str]:
    return {"role": role, "content": text}


def test_the_oldest_exchange_goes_first_and_whole() -> None:
    conversation = [
        _m("system", "Be brief."),
        _m("user", "one"),
        _m("assistant", "1"),
        _m("user", "two"),
        _m("assistant", "2"),
        _m("user", "three"),
    ]
    shorter = without_oldest_exchange(conversation)
    assert shorter is not None
    kept, left_out = shorter
    assert left_out == 2
    assert [m["content"] for m in kept] == ["Be brief.", "two", "2", "three"]
    again = without_oldest_exchange(kept)
    assert again is not None and [m["content"] for m in again[0]] == ["Be brief.", "three"]
    assert without_oldest_exchange(again[0]) is None  # the question itself always stays


def test_replies_before_any_question_and_inserted_messages_go_with_their_exchange() -> None:
    conversation = [
        _m("assistant", "Hello! Ask me anything."),  # a greeting before the first question
        _m("user", "one"),
        _m("user", "one, again"),  # inserted: two of the user's in a row
        _m("assistant", "1"),
        _m("user", "two"),
    ]
    first = without_oldest_exchange(conversation)
    assert first is not None and first[1] == 1
    assert first[0][0]["content"] == "one"
    second = without_oldest_exchange(first[0])
    assert second is not None and [m["content"] for m in second[0]] == ["one, again", "1", "two"]


def test_nothing_to_leave_out() -> None:
    assert without_oldest_exchange([]) is None
    assert without_oldest_exchange([_m("user", "only")]) is None
    assert without_oldest_exchange([_m("system", "s"), _m("user", "only")]) is None
