"""Drive the real chat screen against a tiny model running in the real llama.cpp worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.conversations import ConversationStore
from desktop.ui.chat.session import SessionState
from desktop.ui.main_window import MainWindow
from tests.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    put_in_library,
    resource_tracker_fixture,
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
