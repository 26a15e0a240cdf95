"""Insert a message anywhere in a conversation (LM Studio's "insert, edit & continue"): an
empty editor opens in place, Insert stores it, and the model is sent the new order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from desktop.engine.worker import SamplingSettings
from desktop.services.conversations import ConversationStore
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.chat.chat_view import ChatView
from desktop.ui.chat.transcript import MessageWidget
from desktop.ui.main_window import MainWindow
from tests.support.stall_probe import StallProbe, assert_responsive, settle_window
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    GREEDY_SHORT,
    chat_with_a_reply,
    load_in_new_chat,
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)


def insert_via_menu(
    qtbot: QtBot, chat: ChatView, widget: MessageWidget, label: str, text: str
) -> None:
    """Choose ``label`` in the message's Insert menu, type ``text`` and press Insert; the event
    loop runs between the two, as between a person's clicks (the stall probe then measures
    each action, not the test's run of them)."""
    (action,) = [a for a in widget.insert_menu.actions() if a.text() == label]
    action.trigger()
    qtbot.wait(20)
    (draft,) = [w for w in chat.transcript.messages if w.draft]
    assert draft.editing and draft.editor.toPlainText() == ""
    assert draft.save_button.text() == "Insert"
    draft.editor.setPlainText(text)
    draft.save_button.click()
    qtbot.wait(20)


def test_messages_inserted_anywhere_are_sent_in_order_and_kept_after_restart(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    window = main_window()
    chat = load_in_new_chat(
        qtbot, window, put_in_library(tiny_f16), GREEDY_SHORT, timeout_ms=120_000
    )
    chat.mode_switch.setChecked(False)  # chat mode: the model is sent the list of messages
    chat.send("hello")
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    cid = chat.conversation_id
    assert cid is not None
    first_reply = chat.store.get(cid).messages[1].content
    sent: list[list[dict[str, str]]] = []
    real_send = chat.session.send

    def recording_send(
        messages: list[dict[str, str]], sampling: SamplingSettings, **where: Any
    ) -> object:
        sent.append(messages)
        return real_send(messages, sampling, **where)

    chat.session.send = recording_send  # type: ignore[method-assign]

    settle_window(qtbot, window)
    probe = StallProbe()  # the inserts run on the GUI thread, as a click would run them
    reply = chat.transcript.messages[1]
    assert reply.insert_button.isVisibleTo(chat) and reply.insert_button.isEnabled()
    insert_via_menu(qtbot, chat, reply, "Insert your message above", "and also this")
    insert_via_menu(qtbot, chat, chat.transcript.messages[-1], "Insert a reply below", "Noted.")
    insert_via_menu(qtbot, chat, chat.transcript.messages[-1], "Insert your message below", "Next?")
    last = chat.transcript.messages[-1]
    assert last.role == "user" and last.regenerate_button.text() == "Reply"
    last.regenerate_button.click()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    assert_responsive(probe)

    expected = [
        ("user", "hello"), ("user", "and also this"), ("assistant", first_reply),
        ("assistant", "Noted."), ("user", "Next?"),
    ]  # fmt: skip
    assert [(m["role"], m["content"]) for m in sent[-1]] == expected
    stored = chat.store.get(cid).messages
    assert [(m.role, m.content) for m in stored[:-1]] == expected
    assert stored[-1].role == "assistant" and stored[-1].complete
    assert [w.position for w in chat.transcript.messages] == [0, 1, 2, 3, 4, 5]

    window.close()
    again = main_window()
    again.chat.open_conversation(cid)
    shown = [(w.role, w.text) for w in again.chat.transcript.messages]
    assert shown == [(m.role, m.content) for m in ConversationStore().get(cid).messages]


def test_cancel_leaves_the_conversation_as_it_was(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    chat = chat_with_a_reply(qtbot, main_window(), put_in_library(tiny_f16), "hello")
    cid = chat.conversation_id
    assert cid is not None
    before = chat.store.get(cid).messages
    (action,) = [
        a for a in chat.transcript.messages[0].insert_menu.actions()
        if a.text() == "Insert a reply above"
    ]  # fmt: skip
    action.trigger()
    (draft,) = [w for w in chat.transcript.messages if w.draft]
    assert chat.transcript.messages.index(draft) == 0
    draft.editor.setPlainText("never mind")
    draft.cancel_button.click()
    assert chat.store.get(cid).messages == before
    assert [w.draft for w in chat.transcript.messages] == [False, False]
    assert chat.transcript.messages[-1].regenerate_button.text() == "Regenerate"
