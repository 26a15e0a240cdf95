"""Helpers for the GUI tests: a library with tiny real models, a main-window factory, and a
chat with a model loaded."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from converter.paths import library_dir
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.chat.chat_view import ChatView
from desktop.ui.main_window import MainWindow
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

TINY_SHAPE = TinyModelShape(n_layer=1, n_embd=256, n_head=4, n_head_kv=2, n_ff=256, n_vocab=320)
#: Conversation settings for a short deterministic reply (greedy, no penalty, 6 tokens).
GREEDY_SHORT = {"temperature": 0.0, "repeat_penalty": 1.0, "max_tokens": 6}
#: Conversation settings for deterministic replies in a 512-token context (tests add their
#: ``max_tokens``).
GREEDY_CHAT = {"temperature": 0.0, "top_k": 1, "repeat_penalty": 1.0, "context_tokens": 512}


@pytest.fixture(scope="module", name="tiny_f16")
def tiny_f16_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny-F16.gguf", TINY_SHAPE)


@pytest.fixture(scope="module", name="endless_model")
def endless_model_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model that never picks end-of-text: a reply is exactly as long as allowed."""
    folder = tmp_path_factory.mktemp("endless")
    return write_tiny_gguf(folder / "endless-F16.gguf", TINY_SHAPE, never_ends=True)


def put_in_library(model: Path, name: str | None = None) -> Path:
    folder = library_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or model.name)
    shutil.copy(model, target)
    return target


def wait_until(qtbot: QtBot, condition: Callable[[], bool], timeout_ms: int = 60_000) -> None:
    qtbot.waitUntil(condition, timeout=timeout_ms)


def load_in_new_chat(
    qtbot: QtBot,
    window: MainWindow,
    model: Path,
    settings: Mapping[str, object],
    *,
    timeout_ms: int = 60_000,
) -> ChatView:
    """The window's chat with ``model`` (the only one in the library) loaded into a new
    conversation that has these sampling ``settings`` and no system prompt."""
    chat = window.chat
    wait_until(qtbot, lambda: chat.model_bar.combo.count() == 1)
    conversation_id = chat.new_conversation()
    chat.store.update(conversation_id, settings=settings, system_prompt="")
    chat.load_model(str(model), insist=True)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY, timeout_ms)
    return chat


def chat_with_a_reply(qtbot: QtBot, window: MainWindow, model: Path, message: str) -> ChatView:
    """:func:`load_in_new_chat` with ``GREEDY_SHORT``, ``message`` sent and its reply done."""
    chat = load_in_new_chat(qtbot, window, model, GREEDY_SHORT, timeout_ms=120_000)
    chat.send(message)
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY)
    return chat


def settle_pool(timeout_ms: int = 30_000) -> None:
    """Let every worker thread finish and deliver its signals."""
    QThreadPool.globalInstance().waitForDone(timeout_ms)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)


@pytest.fixture(name="main_window")
def main_window_fixture(qtbot: QtBot) -> Iterator[Callable[[], MainWindow]]:
    """Factory for MainWindow instances that are closed (workers stopped) after the test."""
    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow()
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
    settle_pool()
