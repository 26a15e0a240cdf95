"""A reasoning model's thinking in the chat: apart from its answer, open while the model
thinks, folded once it answers, and the same when the conversation is opened again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from desktop.ui.chat.chat_session import SessionState
from desktop.ui.chat.transcript import EMPTY_REPLY_TEXT, THOUGHT_ONLY_TEXT, MessageWidget
from desktop.ui.compare.column import CompareColumn
from desktop.ui.main_window import MainWindow
from tests.conftest import CHAT_TEMPLATE_FIXTURES
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.thinking_template import OPENING_THINKING_TEMPLATE
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    GREEDY_CHAT,
    TINY_SHAPE,
    load_in_new_chat,
    main_window_fixture,
    put_in_library,
    wait_until,
)


def _streamed(qtbot: QtBot, *pieces: str) -> MessageWidget:
    widget = MessageWidget("assistant", "", 1)
    qtbot.addWidget(widget)
    widget.show()
    for piece in pieces:
        widget.append(piece)
    widget.render_now()
    return widget


def test_the_thinking_is_open_while_the_model_thinks_and_folded_once_it_answers(
    qtbot: QtBot,
) -> None:
    widget = _streamed(qtbot, "<think>\nThe user", " greets me.", "\n</th")
    thinking = widget.thinking
    assert thinking is not None and thinking.isVisible()
    assert thinking.toggle.text() == "Thinking…"
    assert thinking.body.isVisible() and thinking.body.toPlainText() == "The user greets me."
    assert not widget.body.isVisible()  # no "…" under the thinking that shows the progress

    widget.append("ink>\n\nHello! How can I help?")
    widget.render_now()
    assert thinking.toggle.text() == "Thought · 4 words"
    assert not thinking.body.isVisible()
    assert widget.body.isVisible() and widget.body.toPlainText() == "Hello! How can I help?"

    widget.finish(widget.text)
    assert not thinking.body.isVisible() and thinking.toggle.text() == "Thought · 4 words"
    widget.copy_button.click()
    assert QGuiApplication.clipboard().text() == "Hello! How can I help?"
    thinking.toggle.click()
    assert thinking.body.isVisible() and thinking.body.toPlainText() == "The user greets me."


def test_a_fold_chosen_by_the_person_is_kept(qtbot: QtBot) -> None:
    widget = _streamed(qtbot, "<think>Let me see")
    thinking = widget.thinking
    assert thinking is not None and thinking.body.isVisible()
    thinking.toggle.click()  # folded while the model still thinks
    widget.append(", one more thought")
    widget.render_now()
    assert not thinking.body.isVisible() and thinking.toggle.text() == "Thinking…"
    thinking.toggle.click()  # opened again: it stays open after the answer comes
    widget.append("</think>The answer.")
    widget.finish(widget.text)
    assert thinking.body.isVisible()
    assert thinking.body.toPlainText() == "Let me see, one more thought"
    assert widget.body.toPlainText() == "The answer."


def test_replies_without_thinking_look_as_before(qtbot: QtBot) -> None:
    widget = _streamed(qtbot, "Hello, and no thinking before it.")
    widget.finish(widget.text)
    assert widget.thinking is not None and not widget.thinking.isVisible()
    assert widget.body.toPlainText() == "Hello, and no thinking before it."
    empty = _streamed(qtbot, "<think>\n\n</think>\n\n")  # thinking turned off: an empty block
    empty.finish(empty.text)
    assert empty.thinking is not None and not empty.thinking.isVisible()
    assert empty.body.toPlainText() == EMPTY_REPLY_TEXT.strip("*")


def test_a_reply_that_starts_inside_the_thinking_is_shown_as_thinking(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    """The model's template opens ``<think>`` itself (as DeepSeek R1's does): the reply, cut
    by its token limit before the thinking closed, is all thinking, stored as written."""
    model = write_tiny_gguf(
        tmp_path / "thinker-F16.gguf",
        TINY_SHAPE,
        never_ends=True,
        chat_template=OPENING_THINKING_TEMPLATE,
    )
    window = main_window()
    chat = load_in_new_chat(qtbot, window, put_in_library(model), {**GREEDY_CHAT, "max_tokens": 12})
    chat.send("Why is the sky blue?")
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    stored = chat.store.get(chat.conversation_id).messages[-1]
    assert stored.stats["opened_thinking"] is True and stored.stats["tokens"] == 12
    assert "<think>" not in stored.content  # the prompt opened it, not the reply

    words = len(stored.content.split())

    def check(widget: MessageWidget) -> None:
        thinking = widget.thinking
        assert thinking is not None and thinking.isVisibleTo(widget)
        assert thinking.toggle.text() == f"Thought · {words} word{'s' * (words != 1)}"
        assert not thinking.body.isVisibleTo(widget)
        assert widget.body.toPlainText() == THOUGHT_ONLY_TEXT.strip("*")
        thinking.toggle.click()
        assert thinking.body.isVisibleTo(widget) and thinking.body.toPlainText().strip()

    check(chat.transcript.messages[-1])
    chat.open_conversation(chat.conversation_id)  # as stored, in a fresh transcript
    reply = chat.transcript.messages[-1]
    check(reply)

    reply.edit_button.click()  # the person writes the reply anew, with no thinking
    reply.editor.setPlainText("The sky scatters blue light most.")
    reply.save_button.click()
    assert reply.thinking is not None and not reply.thinking.isVisibleTo(reply)
    assert reply.body.toPlainText() == "The sky scatters blue light most."
    assert "opened_thinking" not in chat.store.get(chat.conversation_id).messages[-1].stats


def test_a_compare_column_quotes_the_thinking_above_the_answer(qtbot: QtBot) -> None:
    column = CompareColumn(Path("thinker-Q4_K_M.gguf"), "Q4_K_M")
    qtbot.addWidget(column)
    column.append("<think>\nFirst A,\nthen B.\n</think>\n\nB.")
    qtbot.waitUntil(lambda: bool(column.body.toPlainText()))
    lines = [line.strip() for line in column.body.toPlainText().splitlines() if line.strip()]
    assert lines == ["Thinking", "First A, then B.", "B."]  # a Markdown paragraph
    column.reset()
    column.append("Plain *answer*.")
    qtbot.waitUntil(lambda: bool(column.body.toPlainText()))
    assert column.body.toPlainText() == "Plain answer."


def test_the_thinking_setting_reaches_the_chat_template(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    """A template that closes the thinking in the prompt unless ``enable_thinking`` is set
    (the fixtures' DeepSeek R1): the conversation's Thinking setting turns it on, and the
    reply, which the tiny model never closes, is then all thinking."""
    fixture = CHAT_TEMPLATE_FIXTURES / "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"
    template = fixture.read_text()
    model = write_tiny_gguf(
        tmp_path / "switchable-F16.gguf", TINY_SHAPE, never_ends=True, chat_template=template
    )
    window = main_window()
    settings = {**GREEDY_CHAT, "max_tokens": 8}
    chat = load_in_new_chat(qtbot, window, put_in_library(model), settings)
    form = chat.settings_panel.form
    assert form.thinking.currentData() is None  # the template's own default: no thinking

    def reply_to(question: str) -> MessageWidget:
        chat.send(question)
        wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
        return chat.transcript.messages[-1]

    plain = reply_to("Hello?")
    assert plain.thinking is not None and not plain.thinking.isVisibleTo(plain)
    form.thinking.setCurrentIndex(form.thinking.findData(True))  # the user turns it on
    assert chat.store.get(chat.conversation_id).settings["thinking"] is True
    thought = reply_to("And now?")
    assert thought.thinking is not None and thought.thinking.isVisibleTo(thought)
    assert thought.body.toPlainText() == THOUGHT_ONLY_TEXT.strip("*")
    assert chat.store.get(chat.conversation_id).messages[-1].stats["opened_thinking"] is True
