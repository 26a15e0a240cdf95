"""What LM Studio users reach for in a chat: Continue a cut-off reply, Eject the model,
Duplicate a conversation, and the keyboard shortcuts for a new chat and the model list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings
from desktop.services.app_settings import Sampling
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.main_window import CHAT_TAB, LIBRARY_TAB, MainWindow
from tests.support.gemma_model import gemma_270m_fixture  # noqa: F401 - found by name
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    GREEDY_SHORT,
    chat_with_a_reply,
    load_in_new_chat,
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)

COUNTING = "1, 2, 3, 4, 5,"


def test_continue_writes_on_in_the_same_message_and_stores_the_whole_reply(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    chat = chat_with_a_reply(qtbot, main_window(), put_in_library(tiny_f16), "tell me more")
    first = chat.store.get(chat.conversation_id).messages[-1]
    assert first.stats["stop"] == "max_tokens" and first.content  # cut off by the length limit
    reply = chat.transcript.messages[-1]
    assert reply.continue_button.isVisibleTo(chat) and reply.continue_button.isEnabled()

    reply.continue_button.click()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    messages = chat.store.get(chat.conversation_id).messages
    assert [m.role for m in messages] == ["user", "assistant"]  # no new message
    assert messages[-1].content.startswith(first.content)
    assert len(messages[-1].content) > len(first.content)
    assert messages[-1].complete and 0 < messages[-1].stats["tokens"] <= 6
    assert chat.transcript.messages[-1] is reply and reply.text == messages[-1].content
    assert reply.stats_label.text().startswith("continued:")


def test_eject_frees_the_model_and_the_chat_says_so(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    window = main_window()
    chat = load_in_new_chat(
        qtbot, window, put_in_library(tiny_f16), GREEDY_SHORT, timeout_ms=120_000
    )
    bar = chat.model_bar
    assert bar.eject_button.isVisibleTo(chat)
    worker_pid = chat.session._engine.pid
    QTest.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    wait_until(qtbot, lambda: chat.session.state is SessionState.EMPTY)
    assert chat.session.load_info is None and chat.session._engine.load_info is None
    assert "was ejected" in bar.status.text() and not bar.eject_button.isVisibleTo(chat)
    assert chat.session._engine.pid == worker_pid  # the process stays for the next load
    assert not chat.composer.send_button.isEnabled()
    chat.load_model(bar.current_path(), insist=True)  # and loading again works
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    assert bar.eject_button.isVisibleTo(chat)


def test_duplicate_copies_the_conversation_and_opens_the_copy(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    chat = main_window().chat
    cid = chat.new_conversation()
    chat.store.rename(cid, "Packing list")
    chat.store.update(cid, system_prompt="Be brief.", settings=GREEDY_SHORT)
    chat.store.append(cid, "user", "What do I pack?")
    chat.store.append(cid, "assistant", "Boots.")
    chat.conversations.select(cid)
    chat.conversations.duplicate_button.click()
    copy_id = chat.conversations.current_id()
    assert copy_id != cid and chat.conversation_id == copy_id
    original, copy = chat.store.get(cid), chat.store.get(copy_id)
    assert copy.title == "Packing list (copy)"
    assert (copy.system_prompt, dict(copy.settings)) == ("Be brief.", GREEDY_SHORT)
    assert [(m.role, m.content) for m in copy.messages] == [
        (m.role, m.content) for m in original.messages
    ]
    assert [w.text for w in chat.transcript.messages] == ["What do I pack?", "Boots."]
    chat.store.append(copy_id, "user", "And food?")  # the copy changes alone
    assert len(chat.store.get(cid).messages) == 2


def test_ctrl_n_starts_a_conversation_and_ctrl_l_opens_the_model_list(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    put_in_library(tiny_f16)
    window = main_window()
    chat = window.chat
    wait_until(qtbot, lambda: chat.model_bar.combo.count() == 1)
    window.tabs.setCurrentIndex(LIBRARY_TAB)
    before = {s.id for s in chat.store.list()}
    QTest.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == CHAT_TAB
    assert chat.conversation_id not in before and chat.conversation_id is not None
    wait_until(qtbot, lambda: chat.composer.edit.hasFocus())

    window.tabs.setCurrentIndex(LIBRARY_TAB)
    QTest.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == CHAT_TAB
    wait_until(qtbot, lambda: chat.model_bar.combo.view().isVisible())
    chat.model_bar.combo.hidePopup()


def test_edit_keeps_the_editor_in_view_in_a_long_conversation(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    window.resize(1024, 640)
    window.tabs.setCurrentIndex(CHAT_TAB)
    chat = window.chat
    cid = chat.new_conversation()
    for role in ("user", "assistant") * 3:
        chat.store.append(cid, role, "A line of text.\n\n" * 12)
    chat.open_conversation(cid)
    first = chat.transcript.messages[0]
    first.edit_button.setEnabled(True)
    first.edit_button.click()
    bar = chat.transcript.verticalScrollBar()
    wait_until(qtbot, lambda: bar.maximum() > 0 and not first.editor.visibleRegion().isEmpty())
    assert first.editing and bar.value() < bar.maximum()


def _one_shot(model: Path, prompt: str, max_tokens: int) -> str:
    """llama.cpp's own greedy continuation of ``prompt``, through the worker's completion path."""
    with InferenceWorker() as worker:
        worker.load(model, LoadSettings(ctx_tokens=512))
        sampling = SamplingSettings(temperature=0.0, max_tokens=max_tokens, repeat_penalty=1.0)
        return worker.complete(prompt, sampling, on_token=lambda _piece: None).text


def test_continue_with_a_real_model_picks_up_exactly_where_the_reply_stopped(
    qtbot: QtBot, main_window: Callable[[], MainWindow], gemma_270m: Path
) -> None:
    """Gemma 3 270M counting on: two greedy pieces of 4 tokens read as one of 8."""
    expected = _one_shot(gemma_270m, COUNTING, 8)
    window = main_window()
    chat = window.chat
    chat.settings = chat.settings.__class__(
        sampling=Sampling(temperature=0.0, max_tokens=4, repeat_penalty=1.0), context_tokens=512
    )
    model = put_in_library(gemma_270m)
    chat.load_model(str(model), insist=True)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY, 120_000)
    assert chat.text_completion  # a base model: its text is continued
    chat.send(COUNTING)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY, 60_000)
    first = chat.transcript.messages[-1].text
    chat.edits.continue_reply()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY, 60_000)
    assert chat.transcript.messages[-1].text == expected != first


def test_a_reply_is_edited_in_place_and_the_chat_goes_on_from_the_edit(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    """LM Studio's "edit & continue" for the model's messages: the reply's bubble becomes an
    editor, Save keeps what follows, and Continue writes on from the edited text."""
    chat = chat_with_a_reply(qtbot, main_window(), put_in_library(tiny_f16), "tell me more")
    chat.send("and then?")
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    cid = chat.conversation_id
    assert cid is not None
    before = chat.store.get(cid).messages
    reply = chat.transcript.messages[1]  # the first reply, with a turn after it
    assert reply.role == "assistant" and reply.edit_button.isVisibleTo(chat)
    assert reply.edit_button.isEnabled()
    reply.edit_button.click()
    assert reply.editing and reply.editor.toPlainText() == before[1].content
    assert reply.save_button.text() == "Save"  # saved as written, not sent
    reply.editor.setPlainText("The answer, as I would put it:")
    reply.save_button.click()
    after = chat.store.get(cid).messages
    assert [m.content for m in after] == [
        before[0].content, "The answer, as I would put it:", before[2].content, before[3].content,
    ]  # fmt: skip
    assert not reply.editing and reply.text == "The answer, as I would put it:"
    assert reply.stats_label.text() == "edited" and after[1].stats["edited"]

    last = chat.transcript.messages[-1]  # the last reply edited, then continued by the model
    last.edit_button.click()
    last.editor.setPlainText("Counting on:")
    last.save_button.click()
    last.continue_button.click()
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    final = chat.store.get(cid).messages[-1]
    assert final.content.startswith("Counting on:") and len(final.content) > len("Counting on:")
    chat.open_conversation(cid)  # reopened: the edits are what is stored
    assert chat.transcript.messages[1].text == "The answer, as I would put it:"
    assert chat.transcript.messages[1].stats_label.text() == "edited"
