"""Per-model load settings, as LM Studio keeps them: a model loaded with settings of its own
(context, KV cache, GPU layers, threads) gets them back when it is loaded again, after a
restart too, while other models keep the app-wide defaults. Real worker, tiny models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from pytestqt.qtbot import QtBot

from desktop.engine.worker import LoadInfo
from desktop.services.model_load_defaults import ModelDefaultsStore
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.chat.chat_view import ChatView
from desktop.ui.chat.load_settings_dialog import GPU_COUNT, LoadSettingsDialog
from desktop.ui.main_window import CHAT_TAB, MainWindow
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)


def _wait_loaded(qtbot: QtBot, chat: ChatView) -> None:
    wait_until(qtbot, lambda: chat.session.state is SessionState.READY, 120_000)


def test_a_model_gets_its_own_load_settings_back_and_others_keep_the_defaults(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    first = str(put_in_library(tiny_f16, "first-F16.gguf"))
    second = str(put_in_library(tiny_f16, "second-F16.gguf"))
    window = main_window()
    window.tabs.setCurrentIndex(CHAT_TAB)
    chat = window.chat
    wait_until(qtbot, lambda: chat.model_bar.combo.count() == 2)
    chat.model_bar.select(first)
    seen: list[str] = []

    def choose_settings() -> None:  # what a person does in the dialog the button opens
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, LoadSettingsDialog)
        seen.append(dialog.windowTitle())
        assert dialog.context.toolTip() and dialog.gpu.toolTip()  # every field explains itself
        dialog.context.setValue(1536)
        dialog.kv_type.setCurrentText("q8_0")
        dialog.gpu.setCurrentIndex(GPU_COUNT)
        dialog.gpu_layers.setValue(0)
        dialog.threads.setValue(1)
        assert dialog.remember.isChecked()
        buttons = dialog.findChild(QDialogButtonBox)
        assert buttons is not None
        load = buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert load.text() == "Load"
        load.click()

    QTimer.singleShot(0, choose_settings)
    chat.model_bar.load_options_button.click()
    assert seen == ["Load first-F16.gguf"]
    _wait_loaded(qtbot, chat)
    info = chat.session.load_info
    assert info is not None and (info.ctx_tokens, info.kv_type) == (1536, "q8_0")
    assert "own settings" in chat.model_bar.status.text()

    chat.model_bar.select(second)  # another file: the app-wide defaults
    chat.model_bar.load_button.click()
    wait_until(qtbot, lambda: chat.session.load_info is not None
               and chat.session.load_info.path == second, 120_000)  # fmt: skip
    _wait_loaded(qtbot, chat)
    info = chat.session.load_info
    assert info is not None and info.kv_type == window.settings.kv_type
    assert info.ctx_tokens != 1536 and "own settings" not in chat.model_bar.status.text()

    chat.eject()
    wait_until(qtbot, lambda: chat.session.load_info is None)
    window.close()
    again = main_window()  # a restart: the first file's settings were saved
    chat = again.chat
    wait_until(qtbot, lambda: chat.model_bar.combo.count() == 2)
    _wait_loaded(qtbot, chat)  # the last model used comes back at start
    info = chat.session.load_info
    assert info is not None and info.path == second and info.ctx_tokens != 1536
    chat.model_bar.select(first)
    chat.model_bar.load_button.click()  # a plain Load: its own settings come back
    wait_until(qtbot, lambda: chat.session.load_info is not None
               and chat.session.load_info.path == first, 120_000)  # fmt: skip
    info = chat.session.load_info
    assert info is not None and (info.ctx_tokens, info.kv_type) == (1536, "q8_0")
    assert info.gpu_layers == 0


def test_a_one_time_choice_is_not_remembered(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    model = str(put_in_library(tiny_f16))
    window = main_window()
    chat = window.chat
    wait_until(qtbot, lambda: chat.model_bar.combo.count() == 1)
    defaults = chat.load_settings_for(model)
    chosen = LoadSettingsDialog("tiny", defaults, remembered=False)
    qtbot.addWidget(chosen)
    chosen.context.setValue(768)
    chosen.remember.setChecked(False)
    chat.load_with(model, chosen.values(), remember=False)
    _wait_loaded(qtbot, chat)
    info = chat.session.load_info
    assert info is not None and info.ctx_tokens == 768
    assert ModelDefaultsStore().get(model) is None
    assert chat.load_settings_for(model).ctx_tokens == defaults.ctx_tokens  # next load: default


def _library_model_and_its_dialog(
    qtbot: QtBot, window: MainWindow, tiny_f16: Path
) -> tuple[str, LoadSettingsDialog]:
    """The tiny model in the library and the load settings dialog for it, as Load… opens it."""
    model = str(put_in_library(tiny_f16))
    wait_until(qtbot, lambda: window.chat.model_bar.combo.count() == 1)
    dialog = LoadSettingsDialog("tiny", window.chat.load_settings_for(model), remembered=False)
    qtbot.addWidget(dialog)
    return model, dialog


def _load_and_remember(
    qtbot: QtBot, chat: ChatView, model: str, dialog: LoadSettingsDialog
) -> LoadInfo:
    chat.load_with(model, dialog.values(), remember=True)
    _wait_loaded(qtbot, chat)
    info = chat.session.load_info
    assert info is not None
    assert ModelDefaultsStore().get(model) == dialog.values()
    return info


def test_flash_attention_can_be_switched_off_for_an_f16_cache_only(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    window = main_window()
    model, dialog = _library_model_and_its_dialog(qtbot, window, tiny_f16)
    assert dialog.flash_attention.isChecked() and dialog.flash_attention.toolTip()
    dialog.kv_type.setCurrentText("q8_0")  # a quantized cache needs it: ticked and fixed
    assert dialog.flash_attention.isChecked() and not dialog.flash_attention.isEnabled()
    assert "q8_0 KV cache needs it" in dialog.flash_attention.text()
    dialog.kv_type.setCurrentText("f16")
    assert dialog.flash_attention.isEnabled()
    dialog.flash_attention.setChecked(False)
    assert _load_and_remember(qtbot, window.chat, model, dialog).flash_attention is False


def test_the_weights_can_be_mapped_or_read_in_and_the_choice_is_remembered(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    window = main_window()
    model, dialog = _library_model_and_its_dialog(qtbot, window, tiny_f16)
    assert dialog.weights.currentText() == "Automatic" and dialog.weights.toolTip()
    dialog.weights.setCurrentText("Mapped from the file")
    assert _load_and_remember(qtbot, window.chat, model, dialog).weights_mapped
    assert dialog.values().describe().endswith(", file mapped")
    again = LoadSettingsDialog("tiny", window.chat.load_settings_for(model), remembered=True)
    qtbot.addWidget(again)
    assert again.weights.currentText() == "Mapped from the file"
    again.weights.setCurrentText("Read into memory")
    assert again.values().read_weights_in is True
