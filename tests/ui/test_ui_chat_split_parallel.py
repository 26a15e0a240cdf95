"""Split view with a model loaded to write two replies at once: both panes answer at the same
time (the worker's continuous batching, a real tiny model), each Stop stops its own reply, and
a crash during both ends both with one Reload offer; no stall over 100 ms."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.services.model_load_defaults import ModelLoadDefaults
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.chat.chat_view import ChatView
from desktop.ui.chat.load_settings_dialog import LoadSettingsDialog
from desktop.ui.chat.split_view import BESIDE, MAIN
from desktop.ui.main_window import MainWindow
from tests.support.stall_probe import StallProbe, assert_responsive, settle_window
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    GREEDY_CHAT,
    TINY_SHAPE,
    endless_model_fixture,
    load_in_new_chat,
    main_window_fixture,
    put_in_library,
    wait_until,
)

LONG = {**GREEDY_CHAT, "max_tokens": 4000, "context_tokens": 8192}


def _replies(chat: ChatView, cid: int) -> list[tuple[bool, int, str]]:
    return [
        (m.complete, int(m.stats.get("tokens", -1)), str(m.stats.get("summary", "")))
        for m in chat.store.get(cid).messages
        if m.role == "assistant"
    ]


def _both_running(chat: ChatView) -> bool:
    session = chat.session
    return session.streamed_tokens(MAIN) > 0 and session.streamed_tokens(BESIDE) > 0


def _load_with_two_slots(
    qtbot: QtBot, window: MainWindow, model: Path
) -> tuple[ChatView, int, int]:
    """``model`` loaded with 2 replies at once; a conversation in each pane."""
    path = put_in_library(model)
    window.chat.load_defaults.remember(path, ModelLoadDefaults(ctx_tokens=8192, parallel=2))
    chat = load_in_new_chat(qtbot, window, path, LONG)
    window.tabs.setCurrentWidget(chat)
    main_cid = chat.conversation_id
    assert main_cid is not None
    beside_cid = chat.store.create(settings=LONG, system_prompt="")
    chat.split.open_beside(beside_cid)
    return chat, main_cid, beside_cid


def test_both_panes_answer_at_once_and_each_stop_stops_its_own(
    qtbot: QtBot, main_window: Callable[[], MainWindow], endless_model: Path
) -> None:
    window = main_window()
    chat, main_cid, beside_cid = _load_with_two_slots(qtbot, window, endless_model)
    assert chat.session.slots == 2
    assert "2 replies at once" in chat.model_bar.status.text()
    pane = chat.split_pane
    settle_window(qtbot, window)
    probe = StallProbe()

    chat.send("Tell me about the sea")
    wait_until(qtbot, lambda: chat.session.streamed_tokens(MAIN) > 0)
    pane.composer.edit.setPlainText("And about mountains")
    pane.composer.send_button.click()  # no waiting: the second slot takes it
    assert not chat.turns.waiting(BESIDE)
    wait_until(qtbot, lambda: _both_running(chat))  # both stream at the same time
    assert chat.composer.stop_button.isEnabled() and pane.composer.stop_button.isEnabled()
    beside_last = pane.transcript.messages[-1]
    assert not beside_last.regenerate_button.isEnabled()  # its own reply runs

    pane.composer.stop_button.click()  # stops the pane's reply only
    wait_until(qtbot, lambda: not chat.session.replying(BESIDE))
    assert chat.session.replying(MAIN)
    assert chat.session.state is SessionState.GENERATING
    main_last = chat.transcript.messages[-1]
    assert pane.transcript.messages[-1].regenerate_button.isEnabled()  # free while main runs
    assert not main_last.regenerate_button.isEnabled()
    pane.transcript.messages[-1].regenerate_button.click()  # a new reply beside, main still on
    wait_until(qtbot, lambda: _both_running(chat))
    chat.composer.stop_button.click()
    wait_until(qtbot, lambda: not chat.session.replying(MAIN))
    assert chat.session.replying(BESIDE)
    wait_until(qtbot, lambda: not chat.session.busy)
    assert chat.session.state is SessionState.READY
    assert_responsive(probe)

    (main_reply,) = _replies(chat, main_cid)
    assert main_reply[0] is False and "stopped" in main_reply[2]
    (beside_reply,) = _replies(chat, beside_cid)  # the stopped one was regenerated
    assert beside_reply[:2] == (True, 4000)


def test_a_crash_during_both_replies_keeps_both_texts_and_offers_one_reload(
    qtbot: QtBot, main_window: Callable[[], MainWindow], endless_model: Path
) -> None:
    window = main_window()
    chat, main_cid, beside_cid = _load_with_two_slots(qtbot, window, endless_model)
    pane = chat.split_pane
    chat.send("one")
    pane.composer.edit.setPlainText("two")
    pane.composer.send_button.click()
    wait_until(qtbot, lambda: _both_running(chat))
    engine = chat.session._engine
    assert engine is not None and engine.pid is not None
    os.kill(engine.pid, signal.SIGKILL)
    wait_until(qtbot, lambda: chat.session.state is SessionState.CRASHED and not chat.session.busy)
    # A card added to a shown transcript is shown at the event loop's next pass.
    wait_until(
        qtbot, lambda: any(m.isVisible() for m in chat.transcript.messages if m.role == "error")
    )
    errors = [m for m in chat.transcript.messages if m.role == "error"]
    assert len(errors) == 1 and errors[0].reload_button.isVisibleTo(chat)
    for cid in (main_cid, beside_cid):
        ((complete, _tokens, summary),) = _replies(chat, cid)
        assert not complete and summary == "interrupted"
    errors[0].reload_button.click()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    assert chat.session.slots == 2  # reloaded with the same settings


def test_the_load_settings_offer_replies_at_once(qtbot: QtBot) -> None:
    dialog = LoadSettingsDialog("tiny.gguf", ModelLoadDefaults(parallel=2), remembered=True)
    qtbot.addWidget(dialog)
    assert dialog.parallel.value() == 2 and dialog.parallel.toolTip()
    dialog.parallel.setValue(1)
    assert dialog.values().parallel == 1
    assert "2 replies at once" in ModelLoadDefaults(parallel=2).describe()
    with pytest.raises(ValueError, match="Replies at once"):
        ModelLoadDefaults(parallel=9)


def test_the_pane_offers_to_answer_both_at_once(
    qtbot: QtBot, main_window: Callable[[], MainWindow], endless_model: Path
) -> None:
    """Loaded with one reply at a time, the pane beside offers a reload with two; it keeps the
    other load settings and answers both panes together afterwards."""
    window = main_window()
    path = put_in_library(endless_model)
    chat = load_in_new_chat(qtbot, window, path, LONG)
    window.tabs.setCurrentWidget(chat)
    chat.split.open_beside(chat.store.create(settings=LONG, system_prompt=""))
    button = chat.split_pane.together_button
    assert chat.session.slots == 1 and button.isVisible() and button.isEnabled()
    before = chat.session.load_info
    assert before is not None
    button.click()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY and chat.session.slots == 2)
    after = chat.session.load_info
    assert after is not None and (after.ctx_tokens, after.kv_type) == (
        before.ctx_tokens,
        before.kv_type,
    )
    assert not button.isVisible()
    assert chat.load_defaults.get(path) is None  # nothing was remembered for the file
    chat.send("one")
    chat.split_pane.composer.edit.setPlainText("two")
    chat.split_pane.composer.send_button.click()
    wait_until(qtbot, lambda: _both_running(chat))
    chat.session.stop()
    wait_until(qtbot, lambda: not chat.session.busy)
