"""The context line under Send: how full the conversation's context is after its last reply,
kept with the conversation, following the loaded model, warning when nearly full."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.ui.chat.chat_session import SessionState
from desktop.ui.main_window import MainWindow
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    GREEDY_CHAT,
    endless_model_fixture,
    load_in_new_chat,
    main_window_fixture,
    put_in_library,
    wait_until,
)

GREEDY = {**GREEDY_CHAT, "max_tokens": 20}


def test_the_context_line_follows_the_conversation_and_warns_when_nearly_full(
    qtbot: QtBot, main_window: Callable[[], MainWindow], endless_model: Path
) -> None:
    window = main_window()
    chat = load_in_new_chat(qtbot, window, put_in_library(endless_model), GREEDY)
    window.tabs.setCurrentWidget(chat)
    label = chat.composer.context_label
    assert not label.isVisible()  # nothing said yet
    first = chat.conversation_id
    assert first is not None
    chat.send("How full is the context?")
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    (reply,) = [m for m in chat.store.get(first).messages if m.role == "assistant"]
    used = int(reply.stats["context_tokens"])
    assert 20 < used < 512 and reply.stats["tokens"] == 20
    assert label.isVisible() and label.text() == f"Context {used / 512:.0%} full"
    assert f"{used} of the 512 tokens" in label.toolTip()
    assert not label.property("warning")

    chat.new_conversation()
    assert not label.isVisible()
    chat.open_conversation(first)  # kept with the conversation
    assert label.isVisible() and label.text() == f"Context {used / 512:.0%} full"

    chat.store.update(first, settings={**GREEDY, "max_tokens": 460})
    chat.send("And now?")  # the endless model writes all 460 tokens
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    assert label.property("warning") is True and "Nearly full" in label.toolTip()

    chat.eject()  # no model: no context to fill
    wait_until(qtbot, lambda: chat.session.state is SessionState.EMPTY)
    assert not label.isVisible()


@pytest.mark.parametrize("text_completion", [False, True], ids=["chat", "text completion"])
def test_a_conversation_longer_than_the_context_is_answered_without_its_oldest_exchanges(
    qtbot: QtBot,
    main_window: Callable[[], MainWindow],
    endless_model: Path,
    text_completion: bool,
) -> None:
    window = main_window()
    chat = load_in_new_chat(qtbot, window, put_in_library(endless_model), GREEDY)
    chat.mode_switch.setChecked(text_completion)  # off: the (fallback) chat template
    assert chat.text_completion is text_completion
    cid = chat.conversation_id
    assert cid is not None
    for n in range(6):  # far more than 512 tokens of earlier talk
        chat.store.append(cid, "user", f"question {n}: " + "words and more words " * 12)
        chat.store.append(cid, "assistant", f"answer {n}: " + "other words again " * 12)
    chat.open_conversation(cid)
    chat.send("the last question")
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    messages = chat.store.get(cid).messages
    assert len(messages) == 14  # the conversation keeps every message
    reply = messages[-1]
    assert reply.role == "assistant" and reply.complete and reply.stats["tokens"] == 20
    left_out = int(reply.stats["left_out"])
    assert left_out > 0 and left_out % 2 == 0  # whole exchanges, oldest first
    assert f"{left_out} earlier messages left out" in str(reply.stats["summary"])
    assert int(reply.stats["context_tokens"]) <= 512
    assert chat.transcript.messages[-1].role == "assistant"  # no error card
