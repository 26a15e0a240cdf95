"""Split view: two conversations side by side, both answered by the one loaded tiny model
(one reply at a time: the second waits, says so, then runs), without stalling the GUI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.ui.chat.chat_session import SessionState
from desktop.ui.chat.chat_view import ChatView
from desktop.ui.chat.conversation_list import ID_ROLE
from desktop.ui.chat.split_pane import WAITING_NOTE
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


def _replies(chat: ChatView, cid: int) -> list[tuple[str, bool, int]]:
    return [
        (m.content, m.complete, int(m.stats.get("tokens", -1)))
        for m in chat.store.get(cid).messages
        if m.role == "assistant"
    ]


def _all_done(chat: ChatView) -> bool:
    turns = chat.turns
    return (
        chat.session.state is SessionState.READY
        and not chat.session.busy
        and not turns.waiting(MAIN)
        and not turns.waiting(BESIDE)
    )


def test_both_panes_get_real_replies_one_after_the_other(
    qtbot: QtBot, main_window: Callable[[], MainWindow], endless_model: Path
) -> None:
    window = main_window()
    chat = load_in_new_chat(qtbot, window, put_in_library(endless_model), {**GREEDY_CHAT,
                            "max_tokens": 150})  # fmt: skip
    window.tabs.setCurrentWidget(chat)
    main_cid = chat.conversation_id
    assert main_cid is not None
    beside_cid = chat.store.create(settings={**GREEDY_CHAT, "max_tokens": 20})
    chat.split.open_beside(beside_cid)
    pane = chat.split_pane
    assert pane.isVisible() and chat.split.action.isChecked()
    streamed: list[tuple[str | None, str]] = []  # whose reply, what the pane shows of it
    beside_stream = chat.split.stream
    chat.session.token.connect(  # connected after the chat's own router: sees its result
        lambda owner, _piece: streamed.append(
            (owner, pane.transcript.messages[-1].text if beside_stream.active else "")
        )
    )
    settle_window(qtbot, window)
    probe = StallProbe()

    chat.send("Tell me about the sea")  # the main pane's reply runs...
    wait_until(qtbot, lambda: chat.session.streamed_tokens(MAIN) > 0)
    pane.composer.edit.setPlainText("And about mountains")
    pane.composer.send_button.click()  # ...so the pane's waits, and says so
    assert chat.turns.waiting(BESIDE) and pane.composer.speed_label.text() == WAITING_NOTE
    assert not pane.composer.send_button.isEnabled()  # one waiting message is enough
    assert [m.role for m in chat.store.get(beside_cid).messages] == ["user"]
    wait_until(qtbot, lambda: _all_done(chat))
    (main_reply,) = _replies(chat, main_cid)
    (beside_reply,) = _replies(chat, beside_cid)
    assert main_reply[1:] == (True, 150) and beside_reply[1:] == (True, 20)
    assert pane.transcript.messages[-1].text == beside_reply[0] != ""
    assert any(text for owner, text in streamed if owner == BESIDE)  # it streamed into the pane
    assert not any(text for owner, text in streamed if owner == MAIN)
    assert chat.transcript.messages[-1].text == main_reply[0]

    pane.composer.edit.setPlainText("Once more")  # now the pane first, the main pane waits
    pane.composer.send_button.click()
    chat.composer.edit.setPlainText("And the sky?")
    chat.composer.send_button.click()
    assert chat.turns.waiting(MAIN) and chat.composer.speed_label.text() == WAITING_NOTE
    assert chat.composer.stop_button.isEnabled() is False  # Stop is the pane's reply's own
    wait_until(qtbot, lambda: _all_done(chat))
    assert [r[1:] for r in _replies(chat, beside_cid)] == [(True, 20), (True, 20)]
    assert [r[1:] for r in _replies(chat, main_cid)] == [(True, 150), (True, 150)]
    assert_responsive(probe)

    window.resize(1024, 640)  # two panes on a small window: the buttons become icons
    wait_until(qtbot, lambda: all(m.compact for m in chat.transcript.messages))
    last = chat.transcript.messages[-1]
    assert last.regenerate_button.text() == "" and last.regenerate_button.accessibleName()
    assert chat.transcript.width() < 600 and pane.width() < 600


def test_open_beside_from_the_list_and_close_the_split(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    chat = window.chat
    first = chat.new_conversation()
    chat.store.append(first, "user", "First question")
    second = chat.new_conversation()
    chat.conversations.refresh()
    item = next(i for i in chat.conversations._items() if i.data(0, ID_ROLE) == first)
    menu = chat.conversations.context_menu_for(item)
    assert menu is not None
    (beside,) = [a for a in menu.actions() if a.text() == "Open beside"]
    beside.trigger()
    pane = chat.split_pane
    assert pane.isVisibleTo(chat) and pane.conversation_id == first
    assert [w.text for w in pane.transcript.messages] == ["First question"]
    assert chat.conversation_id == second  # the main pane keeps its conversation
    assert chat.split.action in window.menuBar().actions()[1].menu().actions()

    chat.split.open_beside(second)  # the one open on the left: refused
    assert pane.conversation_id == first and "open already" in chat.model_bar.status.text()
    chat.conversations.select(first)  # the main pane opens the one beside: one pane again
    wait_until(qtbot, lambda: chat.conversation_id == first)
    assert not pane.isVisibleTo(chat) and not chat.split.action.isChecked()
    chat.split.open_beside(second)
    assert pane.isVisibleTo(chat) and pane.conversation_id == second
    pane.close_button.click()
    assert not pane.isVisibleTo(chat) and not chat.split.action.isChecked()
    chat.split.action.trigger()  # the Chat menu's Split: a new conversation beside
    assert pane.isVisibleTo(chat) and pane.conversation_id not in (None, first, second)
    chat.split.action.trigger()
    assert not pane.isVisibleTo(chat)
