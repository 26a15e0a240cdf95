"""The chat's less travelled paths: a model predicted not to fit, copy, and export."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.services.fit_text import plan_for
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.main_window import MainWindow
from tests.support.ui_dialogs import MessageBoxAnswer
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)

Button = QMessageBox.StandardButton


def test_a_model_predicted_not_to_fit_is_loaded_only_when_the_user_insists(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    model = put_in_library(tiny_f16)
    window = main_window()
    bar = window.chat.model_bar
    wait_until(qtbot, lambda: window.hardware is not None and bar.combo.count() == 1)
    # The real planner with this machine's facts, except 1 MiB of free memory and no GPU.
    bar.hardware = dataclasses.replace(window.hardware, ram_available_bytes=2**20, gpus=())
    plan = plan_for(model, bar.hardware, bar.context_tokens, bar.kv_type)
    assert plan.verdict == "wont_fit"  # the premise of the test

    refuse = MessageBoxAnswer(Button.Cancel)
    bar.load_button.click()
    wait_until(qtbot, lambda: "Not loaded" in bar.status.text())
    assert "predicted not to fit" in refuse.texts[0] and model.name in refuse.texts[0]
    assert window.chat.session.state is SessionState.EMPTY
    assert bar.load_button.isEnabled()

    insist = MessageBoxAnswer(Button.Ignore)
    bar.load_button.click()
    wait_until(qtbot, lambda: window.chat.session.state is SessionState.READY)
    assert len(insist.texts) == 1
    assert f"Loaded {model.name}" in bar.status.text()


def test_copy_and_export_a_conversation_through_the_buttons(
    qtbot: QtBot,
    main_window: Callable[[], MainWindow],
    tiny_f16: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = put_in_library(tiny_f16)
    chat = main_window().chat
    wait_until(qtbot, lambda: chat.model_bar.combo.count() == 1)
    chat.new_conversation()
    chat.store.update(chat.conversation_id, settings={"max_tokens": 12, "temperature": 0.0})
    chat.load_model(str(model), insist=True)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    chat.composer.edit.setPlainText("Say something")
    chat.composer.send_button.click()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    question, reply = chat.transcript.messages
    assert reply.text

    reply.copy_button.click()
    assert QGuiApplication.clipboard().text() == reply.text

    def save_as(name: str, chosen_filter: str) -> None:
        answer = (str(tmp_path / name), chosen_filter)
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a, **_k: answer)
        chat.conversations.export_button.click()

    save_as("chat.md", "Markdown (*.md)")
    markdown = (tmp_path / "chat.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Say something\n")
    assert "## You\n\nSay something\n" in markdown
    assert f"## Assistant\n\n{reply.text}\n" in markdown

    save_as("chat", "JSON (*.json)")  # typed without an extension: the chosen format decides
    exported = json.loads((tmp_path / "chat.json").read_text(encoding="utf-8"))
    assert exported["model"] == str(model)
    assert [(m["role"], m["content"]) for m in exported["messages"]] == [
        ("user", question.text),
        ("assistant", reply.text),
    ]
    assert exported["messages"][1]["stats"]["tokens"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.json", "chat.md"]  # no temp files
