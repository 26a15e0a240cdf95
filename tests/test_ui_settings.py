"""Settings survive restarts (window geometry too) and a damaged file never stops the app."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable

from pytestqt.qtbot import QtBot

from desktop.settings import Sampling, Settings, load_settings, save_settings, settings_path
from desktop.ui.main_window import MainWindow
from tests.conftest import REPO_ROOT
from tests.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
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
    from desktop.ui.settings_dialog import SettingsDialog

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
