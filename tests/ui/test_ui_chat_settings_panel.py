"""The chat's settings panel: beside the chat, stored with the conversation, used by the next
reply, shown or hidden by the user and remembered, out of the way on a small window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.services.app_settings import Sampling
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.chat.split_view import BESIDE
from desktop.ui.main_window import MainWindow
from tests.support.ui_dialogs import InputDialogAnswer
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    GREEDY_CHAT,
    TINY_SHAPE,
    endless_model_fixture,
    load_in_new_chat,
    main_window_fixture,
    put_in_library,
    wait_until,
)

GREEDY = {**GREEDY_CHAT, "max_tokens": 40}


def test_a_change_in_the_panel_is_stored_and_shapes_the_next_reply(
    qtbot: QtBot, main_window: Callable[[], MainWindow], endless_model: Path
) -> None:
    window = main_window()
    chat = load_in_new_chat(qtbot, window, put_in_library(endless_model), GREEDY)
    chat.refresh_settings_panel()  # the test wrote the conversation's settings past the panel
    form = chat.settings_panel.form
    assert form.max_tokens.value() == 40 and form.temperature.value() == 0.0

    form.max_tokens.setValue(5)
    form.system_prompt.setPlainText("Answer in one word.")
    stored = chat.store.get(chat.conversation_id or 0)
    assert Sampling.from_json(stored.settings).max_tokens == 5
    assert stored.system_prompt == "Answer in one word."

    chat.send("Tell me a story")
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    (reply,) = [m for m in chat.store.get(stored.id).messages if m.role == "assistant"]
    assert reply.stats["tokens"] == 5

    form.max_tokens.setValue(9)  # the next reply, also a regenerated one, follows the panel
    chat.edits.regenerate()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    (reply,) = [m for m in chat.store.get(stored.id).messages if m.role == "assistant"]
    assert reply.stats["tokens"] == 9


def test_the_panel_follows_the_open_conversation(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    chat = window.chat
    form = chat.settings_panel.form
    assert chat.conversation_id is None
    assert form.system_prompt.toPlainText() == chat.settings.system_prompt  # the app's defaults
    form.temperature.setValue(1.3)  # with nothing open, a change starts a conversation
    first = chat.conversation_id
    assert first is not None
    assert Sampling.from_json(chat.store.get(first).settings).temperature == 1.3
    assert form.temperature.value() == 1.3

    second = chat.new_conversation()
    assert form.temperature.value() == chat.settings.sampling.temperature
    form.fixed_seed.setChecked(True)
    form.seed.setValue(42)
    chat.conversations.select(first)
    wait_until(qtbot, lambda: chat.conversation_id == first)
    assert form.temperature.value() == 1.3 and not form.fixed_seed.isChecked()
    assert Sampling.from_json(chat.store.get(second).settings).seed == 42
    assert Sampling.from_json(chat.store.get(first).settings).seed is None

    answer = InputDialogAnswer("Warm replies")  # renamed in the list: the panel says so
    chat.conversations.rename_button.click()
    assert answer.labels == ["Title:"]
    assert "Warm replies" in chat.settings_panel.conversation_label.text()


def test_shown_on_a_large_window_hidden_on_a_small_one_and_the_choice_is_kept(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    chat = window.chat
    panel, button = chat.settings_panel, chat.model_bar.settings_button
    action = panel.toggle_action
    window.tabs.setCurrentWidget(chat)
    window.resize(1024, 640)
    wait_until(qtbot, lambda: not panel.isVisible())
    assert not button.isChecked() and not action.isChecked()
    window.resize(1920, 1080)
    wait_until(qtbot, lambda: panel.isVisible())
    assert button.isChecked() and action.isChecked()
    wait_until(qtbot, lambda: panel.width() >= 250)  # wide enough to read
    assert chat.transcript.width() > 2 * panel.width()  # the chat keeps most of the room

    button.click()  # the user hides it: it stays hidden, also on a large window
    assert not panel.isVisible() and not action.isChecked()
    window.close()
    again = main_window()
    again.resize(1920, 1080)
    again.tabs.setCurrentWidget(again.chat)
    qtbot.wait(50)
    assert not again.chat.settings_panel.isVisible()

    # the Chat menu's item shows it, on a small window too
    again.chat.settings_panel.toggle_action.trigger()
    again.resize(1024, 640)
    wait_until(qtbot, lambda: again.chat.settings_panel.isVisible())
    assert again.chat.model_bar.settings_button.isChecked()
    assert again.width() == 1024  # the panel fits the small window, it does not widen it
    assert again.chat.settings_panel.width() >= 200
    assert again.chat.transcript.width() > again.chat.settings_panel.width()
    again.chat.settings_panel.close_button.click()
    assert not again.chat.settings_panel.isVisible()
    assert again.chat.settings_panel.choice is False


def test_with_the_split_the_panel_follows_the_pane_worked_in(
    qtbot: QtBot, main_window: Callable[[], MainWindow], endless_model: Path
) -> None:
    """A change made while the pane beside has the focus goes to its conversation, and its
    next reply follows it; the main pane's conversation keeps its own settings."""
    window = main_window()
    chat = load_in_new_chat(qtbot, window, put_in_library(endless_model), GREEDY)
    main_cid = chat.conversation_id
    assert main_cid is not None
    beside_cid = chat.store.create("Beside", settings=GREEDY, system_prompt="")
    chat.split.open_beside(beside_cid)
    window.tabs.setCurrentWidget(chat)
    window.activateWindow()
    label = chat.settings_panel.conversation_label
    form = chat.settings_panel.form

    chat.split_pane.composer.edit.setFocus()
    wait_until(qtbot, lambda: "Beside" in label.text() and "beside" in label.text())
    form.max_tokens.setValue(7)
    assert Sampling.from_json(chat.store.get(beside_cid).settings).max_tokens == 7
    assert Sampling.from_json(chat.store.get(main_cid).settings).max_tokens == 40
    chat.split_pane.composer.edit.setPlainText("a story")
    chat.split_pane.composer.send_button.click()
    wait_until(qtbot, lambda: not chat.session.busy)
    assert chat.panel_side == BESIDE  # the focus stayed in the pane beside
    (reply,) = [m for m in chat.store.get(beside_cid).messages if m.role == "assistant"]
    assert reply.stats["tokens"] == 7

    window.activateWindow()  # offscreen, the window is no longer active once a reply ended
    chat.composer.edit.setFocus()  # back in the main pane: its own settings
    wait_until(qtbot, lambda: "beside" not in label.text())
    assert form.max_tokens.value() == 40
    chat.split_pane.composer.edit.setFocus()
    wait_until(qtbot, lambda: "beside" in label.text())
    chat.split.close()  # one pane again: the main conversation's settings
    assert "beside" not in label.text() and form.max_tokens.value() == 40
