"""Settings survive restarts (window geometry too) and a damaged file never stops the app."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from converter.paths import library_dir
from desktop.services.app_settings import (
    Sampling,
    Settings,
    load_settings,
    save_settings,
    settings_path,
)
from desktop.ui.main_window import MainWindow
from desktop.ui.settings_dialog import SettingsDialog
from desktop.ui.theme import app_icon, apply_theme, tokens
from tests.conftest import REPO_ROOT
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    tiny_f16_fixture,
    wait_until,
)


def test_round_trip_and_bad_values_fall_back_to_defaults() -> None:
    settings = Settings(
        extra_library_folders=("/models",), theme="dark", sampling=Sampling(seed=7, top_k=5)
    )
    save_settings(settings)
    assert load_settings() == settings
    data = json.loads(settings_path().read_text())
    data.update(theme="purple", context_tokens="many", kv_type="q8_0", unknown=1)
    data["sampling"]["temperature"] = True
    settings_path().write_text(json.dumps(data))
    loaded = load_settings()
    assert (loaded.theme, loaded.context_tokens, loaded.kv_type) == ("system", 4096, "q8_0")
    assert loaded.sampling.temperature == Sampling().temperature
    assert loaded.sampling.seed == 7
    settings_path().write_text("{ not json")
    assert load_settings() == Settings()


def test_window_geometry_and_folders_persist(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    first = main_window()
    first.resize(760, 560)  # inside the offscreen screen (800×600)
    qtbot.waitUntil(lambda: first.height() == 560)
    size = first.size()
    first.library.folders.append(REPO_ROOT / "docs")
    first.library.folders_changed.emit()
    first.close()
    saved = load_settings()
    assert saved.window_geometry and saved.extra_library_folders == (str(REPO_ROOT / "docs"),)
    second = main_window()
    assert second.size() == size  # not the 1280×800 default
    assert second.library.folders[1] == REPO_ROOT / "docs"


def test_settings_dialog_values_are_applied(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    dialog = SettingsDialog(window.settings, window)
    dialog.context.setValue(8192)
    dialog.kv_type.setCurrentText("q8_0")
    dialog.theme.setCurrentIndex(2)
    values = dialog.values()
    assert (values.context_tokens, values.kv_type, values.theme) == (8192, "q8_0", "dark")
    assert values.sampling.context_tokens == 8192
    assert dataclasses.replace(values, context_tokens=4096) != values


def test_quantdesk_without_arguments_opens_the_app_and_quits() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "--quit-after-ms", "1500"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert load_settings().window_geometry  # the window closed normally and saved its state


def test_an_extra_library_folder_can_be_removed_in_settings(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "more-models"
    extra.mkdir()
    shutil.copy(tiny_f16, extra / tiny_f16.name)
    save_settings(Settings(extra_library_folders=(str(extra),)))
    window = main_window()
    wait_until(qtbot, lambda: window.chat.model_bar.combo.count() == 1)  # listed from the folder

    def remove_the_folder() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SettingsDialog)
        assert not dialog.remove_folder_button.isEnabled()  # nothing chosen yet
        dialog.folders.setCurrentRow(0)
        dialog.remove_folder_button.click()
        assert dialog.folder_list() == ()
        dialog.accept()

    QTimer.singleShot(0, remove_the_folder)
    window.open_settings()
    assert window.library.folders == [library_dir()]
    assert load_settings().extra_library_folders == ()
    wait_until(qtbot, lambda: window.chat.model_bar.combo.count() == 0)
    assert (extra / tiny_f16.name).is_file()  # removed from the library, not from the disk


def test_theme_switches_with_windows_open_and_comes_from_the_shipped_resources(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    wizard = main_window().open_wizard()  # switching styles under it once crashed Qt
    qtbot.addWidget(wizard)
    try:
        for theme in ("dark", "light", "dark"):
            apply_theme(app, theme)
            assert not wizard.grab().isNull()
        assert "QFrame#userMessage" in app.styleSheet()
        assert app.palette().color(QPalette.ColorRole.Window).name() == tokens("dark")["window"]
    finally:
        apply_theme(app, "light")
    assert app.palette().color(QPalette.ColorRole.Window).name() == tokens("light")["window"]
    assert not app_icon().isNull()


def test_settings_are_grouped_in_sections_with_a_sidebar(qtbot: QtBot) -> None:
    """As in LM Studio's settings: a sidebar of sections, each page with its own fields and a
    line on what it holds; choosing a section shows its page."""
    extra = ("/srv/models",)
    dialog = SettingsDialog(dataclasses.replace(Settings(), extra_library_folders=extra))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    titles = [dialog.sections.item(row).text() for row in range(dialog.sections.count())]
    assert titles == ["Appearance", "Models and memory", "Chats", "Library"]
    fields = {
        "Appearance": [dialog.theme],
        "Models and memory": [dialog.context, dialog.kv_type, dialog.threads],
        "Chats": [dialog.system_prompt],
        "Library": [dialog.folders, dialog.remove_folder_button],
    }
    for row, title in enumerate(titles):
        dialog.sections.setCurrentRow(row)
        page = dialog.pages.currentWidget()
        assert page is not None and page.accessibleName() == f"{title} settings"
        assert not dialog.sections.item(row).icon().isNull()
        for name, widgets in fields.items():
            for widget in widgets:  # this section's fields show, the others' do not
                assert widget.isVisible() == (name == title), (title, widget.accessibleName())
    dialog.show_section("Models and memory")
    dialog.kv_type.setCurrentText("q8_0")
    dialog.show_section("Library")
    assert dialog.values().kv_type == "q8_0"  # values come from every page, not the shown one
    assert dialog.values().extra_library_folders == extra
