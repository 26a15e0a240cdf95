"""The pane beside works on its messages as the main pane does: edit in place, insert,
regenerate and continue, on its own conversation (the main one stays as it was), kept after a
restart; and one reply at a time, each pane's Stop stopping its own reply only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.services.conversations import ConversationStore
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.chat.chat_view import ChatView
from desktop.ui.chat.message_edits import BUSY_ELSEWHERE_TIP, EDITED_SUMMARY
from desktop.ui.chat.split_view import BESIDE, MAIN
from desktop.ui.chat.transcript import MessageWidget
from desktop.ui.main_window import CHAT_TAB, MainWindow
from tests.support.stall_probe import StallProbe, assert_responsive, settle_window
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    GREEDY_SHORT,
    TINY_SHAPE,
    chat_with_a_reply,
    endless_model_fixture,
    load_in_new_chat,
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)


def _stored(chat: ChatView, cid: int) -> list[tuple[str, str, bool]]:
    return [(m.role, m.content, m.complete) for m in chat.store.get(cid).messages]


def _idle(chat: ChatView) -> bool:
    return chat.session.state is SessionState.READY and not chat.session.busy


def _pick(qtbot: QtBot, widget: MessageWidget, label: str, text: str, chat: ChatView) -> None:
    """Choose ``label`` in the message's Insert menu, type ``text``, press Insert (the event
    loop runs between the clicks, as a person's would)."""
    (action,) = [a for a in widget.insert_menu.actions() if a.text() == label]
    action.trigger()
    qtbot.wait(20)
    (draft,) = [w for w in chat.split_pane.transcript.messages if w.draft]
    draft.editor.setPlainText(text)
    draft.save_button.click()
    qtbot.wait(20)


def test_edit_insert_regenerate_and_continue_in_the_pane_beside(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    window = main_window()
    chat = chat_with_a_reply(qtbot, window, put_in_library(tiny_f16), "the main question")
    main_cid = chat.conversation_id
    assert main_cid is not None
    main_before = _stored(chat, main_cid)
    beside_cid = chat.store.create(settings=GREEDY_SHORT, system_prompt="")
    chat.split.open_beside(beside_cid)
    pane = chat.split_pane
    pane.composer.edit.setPlainText("hello beside")
    pane.composer.send_button.click()
    wait_until(qtbot, lambda: _idle(chat))
    ((_, first_reply, _),) = [m for m in _stored(chat, beside_cid) if m[0] == "assistant"]
    messages = pane.transcript.messages
    assert [w.role for w in messages] == ["user", "assistant"]
    for button in ("edit_button", "insert_button", "regenerate_button", "continue_button"):
        assert getattr(messages[1], button).isVisibleTo(pane), button
        assert getattr(messages[1], button).isEnabled(), button
    settle_window(qtbot, window)
    probe = StallProbe()

    reply = messages[1]  # edit the reply in place: stored as written, marked edited
    reply.edit_button.click()
    qtbot.wait(20)
    assert reply.editing and reply.editor.toPlainText() == first_reply
    reply.editor.setPlainText("Edited beside:")
    reply.save_button.click()
    assert _stored(chat, beside_cid)[1] == ("assistant", "Edited beside:", True)
    assert chat.store.get(beside_cid).messages[1].stats["summary"] == EDITED_SUMMARY
    assert reply.stats_label.text() == EDITED_SUMMARY

    reply.continue_button.click()  # the model writes on from the edited text, same message
    wait_until(qtbot, lambda: _idle(chat))
    stored = chat.store.get(beside_cid).messages
    assert len(stored) == 2 and stored[1].complete
    assert stored[1].content.startswith("Edited beside:") and stored[1].content != "Edited beside:"
    assert str(stored[1].stats["summary"]).startswith("continued:")
    assert pane.transcript.messages[1].text == stored[1].content

    pane.transcript.messages[1].regenerate_button.click()  # greedy: the first reply again
    wait_until(qtbot, lambda: _idle(chat))
    assert _stored(chat, beside_cid) == [
        ("user", "hello beside", True), ("assistant", first_reply, True),
    ]  # fmt: skip

    _pick(qtbot, pane.transcript.messages[1], "Insert your message above", "and this", chat)
    _pick(qtbot, pane.transcript.messages[-1], "Insert a reply below", "Noted.", chat)
    assert _stored(chat, beside_cid) == [
        ("user", "hello beside", True), ("user", "and this", True),
        ("assistant", first_reply, True), ("assistant", "Noted.", True),
    ]  # fmt: skip
    assert [w.position for w in pane.transcript.messages] == [0, 1, 2, 3]

    question = pane.transcript.messages[1]  # a message of the user's: edited and asked again
    question.edit_button.click()
    qtbot.wait(20)
    question.editor.setPlainText("and that instead")
    question.save_button.click()
    wait_until(qtbot, lambda: _idle(chat))
    final = _stored(chat, beside_cid)
    assert [m[:2] for m in final[:2]] == [("user", "hello beside"), ("user", "and that instead")]
    assert len(final) == 3 and final[2][0] == "assistant" and final[2][2]
    assert_responsive(probe)
    assert _stored(chat, main_cid) == main_before  # the main pane's conversation: untouched
    assert [w.text for w in chat.transcript.messages] == [m[1] for m in main_before]

    window.close()  # after a restart, both conversations are as they were left
    again = main_window()
    again.chat.open_conversation(main_cid)
    again.chat.split.open_beside(beside_cid)
    shown = [(w.role, w.text) for w in again.chat.split_pane.transcript.messages]
    assert shown == [(m.role, m.content) for m in ConversationStore().get(beside_cid).messages]
    assert [m[:2] for m in final] == shown
    assert [(w.role, w.text) for w in again.chat.transcript.messages] == [
        m[:2] for m in main_before
    ]


def test_one_reply_at_a_time_and_each_stop_stops_its_own_pane(
    qtbot: QtBot, main_window: Callable[[], MainWindow], endless_model: Path
) -> None:
    window = main_window()
    long = {**GREEDY_SHORT, "max_tokens": 4000, "context_tokens": 8192}
    chat = load_in_new_chat(qtbot, window, put_in_library(endless_model), long)
    window.tabs.setCurrentWidget(chat)
    main_cid = chat.conversation_id
    assert main_cid is not None
    beside_cid = chat.store.create(settings=long, system_prompt="")
    chat.store.append(beside_cid, "user", "a question beside")
    chat.store.append(beside_cid, "assistant", "an answer beside")
    chat.split.open_beside(beside_cid)
    pane = chat.split_pane
    beside_reply = pane.transcript.messages[-1]
    settle_window(qtbot, window)
    probe = StallProbe()

    chat.send("the main question")  # the main pane's reply runs...
    wait_until(qtbot, lambda: chat.session.streamed_tokens(MAIN) > 0)
    assert chat.turns.running(MAIN)
    for button in (beside_reply.regenerate_button, beside_reply.continue_button,
                   pane.transcript.messages[0].edit_button):  # fmt: skip
        assert not button.isEnabled() and button.toolTip() == BUSY_ELSEWHERE_TIP
    assert beside_reply.edit_button.isEnabled()  # a reply's text is the user's to change
    assert beside_reply.insert_button.isEnabled()
    assert not pane.composer.stop_button.isEnabled() and chat.composer.stop_button.isEnabled()
    pane.composer.stop_requested.emit()  # Esc in the pane beside: not the pane's reply
    qtbot.wait(300)
    assert chat.turns.running(MAIN)
    chat.composer.stop_button.click()  # the main pane's own Stop
    wait_until(qtbot, lambda: _idle(chat))
    main_reply = chat.store.get(main_cid).messages[-1]
    assert not main_reply.complete and "stopped" in str(main_reply.stats["summary"])
    assert beside_reply.regenerate_button.isEnabled()
    assert beside_reply.regenerate_button.toolTip() != BUSY_ELSEWHERE_TIP

    beside_reply.continue_button.click()  # now the pane beside writes on...
    wait_until(qtbot, lambda: chat.session.streamed_tokens(BESIDE) > 0)
    assert chat.turns.running(BESIDE)
    main_last = chat.transcript.messages[-1]
    for button in (main_last.regenerate_button, main_last.continue_button):
        assert not button.isEnabled() and button.toolTip() == BUSY_ELSEWHERE_TIP
    assert not chat.composer.stop_button.isEnabled() and pane.composer.stop_button.isEnabled()
    chat.composer.stop_requested.emit()  # Esc in the main pane: not its reply
    qtbot.wait(300)
    assert chat.turns.running(BESIDE)
    pane.composer.stop_button.click()
    wait_until(qtbot, lambda: _idle(chat))
    assert_responsive(probe)
    continued = chat.store.get(beside_cid).messages[-1]
    assert continued.content.startswith("an answer beside") and not continued.complete
    assert continued.content != "an answer beside" and continued.stats["tokens"] < 4000
    assert chat.store.get(main_cid).messages[-1].content == main_reply.content
    assert main_last.continue_button.isEnabled()


def test_editing_the_last_reply_beside_keeps_the_whole_editor_in_view(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    """The last message of the pane opens as an editor, then the window gets smaller: the
    transcript keeps the editor and its Save button in view, not scrolled short of them."""
    window = main_window()
    window.resize(1920, 1080)
    window.tabs.setCurrentIndex(CHAT_TAB)
    chat = window.chat
    beside_cid = chat.store.create()
    for role in ("user", "assistant") * 2:
        chat.store.append(beside_cid, role, "A line of text.\n\n" * 12)
    chat.split.open_beside(beside_cid)
    transcript = chat.split_pane.transcript
    last = transcript.messages[-1]
    wait_until(qtbot, lambda: transcript.verticalScrollBar().maximum() > 0)
    last.edit_button.click()
    save = last.save_button
    wait_until(qtbot, lambda: save.visibleRegion().boundingRect() == save.rect())
    window.resize(1024, 640)
    wait_until(qtbot, lambda: transcript.height() < 400)
    qtbot.wait(200)
    assert last.editing and save.visibleRegion().boundingRect() == save.rect()
