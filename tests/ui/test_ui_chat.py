"""Drive the real chat screen against a tiny model running in the real llama.cpp worker."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.services.conversations import ConversationStore
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.main_window import MainWindow
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    load_in_new_chat,
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)


def test_load_chat_stop_and_find_it_after_restart(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    model = put_in_library(tiny_f16)
    window = main_window()
    chat = window.chat
    wait_until(qtbot, lambda: chat.model_bar.combo.count() == 1)
    chat.load_model(str(model), insist=True)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    assert "Loaded tiny-F16.gguf" in chat.model_bar.status.text()
    wait_until(qtbot, lambda: "RAM" in window.hardware_panel.live_label.text())  # live memory

    chat.composer.edit.setPlainText("Say something")
    qtbot.keyClick(chat.composer.edit, Qt.Key.Key_Return)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    reply = chat.transcript.messages[-1]
    assert reply.role == "assistant" and reply.text
    assert "tokens/s" in reply.stats_label.text()

    window.close()
    again = main_window()
    (summary,) = ConversationStore().list()
    assert summary.title == "Say something"
    again.chat.open_conversation(summary.id)
    assert [m.role for m in again.chat.transcript.messages] == ["user", "assistant"]
    assert again.chat.transcript.messages[1].text == reply.text


GREEDY_LONG = {
    "temperature": 0.0,
    "top_k": 1,
    "top_p": 1.0,
    "min_p": 0.0,
    "repeat_penalty": 1.0,
    "max_tokens": 3000,
    "context_tokens": 4096,
}


@pytest.fixture(scope="module")
def slower_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Big enough that 3000 tokens take seconds, so Stop lands well before the end."""
    shape = TinyModelShape(n_layer=4, n_embd=512, n_head=8, n_head_kv=4, n_ff=1024)
    return write_tiny_gguf(
        tmp_path_factory.mktemp("slow") / "slower-F16.gguf", shape, never_ends=True
    )


def test_escape_stops_a_reply_and_the_partial_reply_is_kept(
    qtbot: QtBot, main_window: Callable[[], MainWindow], slower_model: Path
) -> None:
    """The model cannot pick end-of-text (``never_ends``), so only Stop ends the reply."""
    model = put_in_library(slower_model)
    chat = load_in_new_chat(qtbot, main_window(), model, GREEDY_LONG)
    pressed: list[bool] = []

    def press_escape(_owner: str, _piece: str) -> None:
        if not pressed:
            pressed.append(True)
            QTest.keyClick(chat.composer.edit, Qt.Key.Key_Escape)

    chat.session.token.connect(press_escape)
    chat.send("Tell me a long story")
    stored = chat.store.get(chat.conversation_id).messages
    assert [m.role for m in stored] == ["user", "assistant"]  # saved before the reply came
    assert stored[0].content == "Tell me a long story"
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    reply = chat.store.get(chat.conversation_id).messages[-1]
    assert reply.stats["stop"] == "cancelled"
    assert 0 < reply.stats["tokens"] < GREEDY_LONG["max_tokens"]
    assert reply.content == chat.transcript.messages[-1].text != ""
    assert "stopped" in chat.transcript.messages[-1].stats_label.text()


def test_regenerate_and_edit_continue_from_the_right_place(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    model = put_in_library(tiny_f16)
    chat = load_in_new_chat(qtbot, main_window(), model, GREEDY_LONG)
    chat.store.update(chat.conversation_id, settings={**GREEDY_LONG, "max_tokens": 8})
    chat.send("first question")
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    first_reply = chat.transcript.messages[-1].text
    assert chat.transcript.messages[-1].regenerate_button.isVisibleTo(chat)
    chat.edits.regenerate()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    messages = chat.store.get(chat.conversation_id).messages
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content == first_reply  # greedy: the same reply again

    chat.edits.edit_and_resend(0, "a different question")
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    messages = chat.store.get(chat.conversation_id).messages
    assert [(m.role, m.position) for m in messages] == [("user", 0), ("assistant", 1)]
    assert messages[0].content == "a different question"
    assert [w.text for w in chat.transcript.messages] == [
        "a different question",
        messages[1].content,
    ]


def test_a_worker_crash_shows_an_error_with_reload_and_the_window_keeps_working(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    model = put_in_library(tiny_f16)
    window = main_window()
    chat = load_in_new_chat(qtbot, window, model, GREEDY_LONG)
    chat.store.update(chat.conversation_id, settings={**GREEDY_LONG, "max_tokens": 8})
    os.kill(chat.session._engine.pid, signal.SIGKILL)
    chat.send("are you there?")
    wait_until(qtbot, lambda: chat.session.state is SessionState.CRASHED)
    error = chat.transcript.messages[-1]
    assert error.role == "error" and "worker" in error.text
    assert error.reload_button.isVisibleTo(chat)
    stored = chat.store.get(chat.conversation_id).messages
    assert stored[0].content == "are you there?"  # nothing typed was lost
    window.tabs.setCurrentIndex(0)  # the rest of the window still answers
    error.reload_button.click()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    chat.send("again")
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    assert chat.transcript.messages[-1].role == "assistant"
    assert chat.transcript.messages[-1].text
