"""Base models in the chat: text completion, labelled, with a switch; empty replies say so.
An embedding model is labelled as one, and a message to it gets the reason it writes none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings
from desktop.services.app_settings import Sampling
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.chat.transcript import EMPTY_REPLY_TEXT
from desktop.ui.main_window import MainWindow
from tests.support.gemma_model import gemma_270m_fixture  # noqa: F401 - found by name
from tests.support.gguf_factory import write_tiny_bert_gguf
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    put_in_library,
    wait_until,
)

PROMPT = "The capital of France is"
GREEDY = Sampling(temperature=0.0, max_tokens=12, repeat_penalty=1.0)


def _greedy_continuation(model: Path) -> str:
    """What llama.cpp itself continues the sentence with, through the API's completion path."""
    with InferenceWorker() as worker:
        worker.load(model, LoadSettings(ctx_tokens=512))
        sampling = SamplingSettings(temperature=0.0, max_tokens=12, repeat_penalty=1.0)
        return worker.complete(PROMPT, sampling, on_token=lambda _piece: None).text


def test_a_base_model_continues_the_text_and_the_switch_goes_back_to_chat(
    qtbot: QtBot, main_window: Callable[[], MainWindow], gemma_270m: Path
) -> None:
    expected = _greedy_continuation(gemma_270m)
    model = put_in_library(gemma_270m)
    window = main_window()
    chat = window.chat
    chat.settings = chat.settings.__class__(sampling=GREEDY, context_tokens=512)
    chat.load_model(str(model), insist=True)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY, 120_000)
    assert chat.mode_switch.isChecked() and chat.text_completion
    assert not chat.mode_banner.isHidden() and "no chat template" in chat.mode_banner.text()
    assert "ChatML" not in chat.model_bar.status.text()  # that fallback is not in use

    chat.send(PROMPT)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY, 60_000)
    reply = chat.transcript.messages[-1]
    assert reply.text == expected  # the sentence continued, exactly as llama.cpp continues it
    assert reply.text.strip() and "<|im" not in reply.text

    chat.mode_switch.setChecked(False)  # chat mode: the fallback template again
    assert not chat.text_completion and chat.mode_banner.isHidden()
    chat.mode_switch.setChecked(True)
    assert "Switched on" not in chat.mode_banner.text()  # still the base model's reason


def test_an_empty_reply_says_so(qtbot: QtBot, main_window: Callable[[], MainWindow]) -> None:
    window = main_window()
    reply = window.chat.transcript.add("assistant", "", 1)
    assert "…" in reply.body.toPlainText()  # still waiting
    reply.finish("")
    assert reply.body.toPlainText() == EMPTY_REPLY_TEXT.strip("*")


def test_an_embedding_model_is_labelled_and_a_message_gets_the_reason(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tmp_path: Path
) -> None:
    model = put_in_library(write_tiny_bert_gguf(tmp_path / "tiny-bert.gguf"))
    chat = main_window().chat
    wait_until(qtbot, lambda: chat.model_bar.combo.count() == 1)
    chat.load_model(str(model), insist=True)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    assert "Embedding model" in chat.mode_banner.text() and not chat.mode_switch.isEnabled()
    chat.composer.edit.setPlainText("the cat")
    qtbot.keyClick(chat.composer.edit, Qt.Key.Key_Return)
    wait_until(qtbot, lambda: chat.transcript.messages[-1].role == "error")
    assert "is an embedding model" in chat.transcript.messages[-1].text
    assert chat.session.state is SessionState.READY  # the worker lives on
