"""The library screen: files grouped by model with fit, import through the GUI, delete."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from converter.paths import library_dir
from desktop.ui.main_window import MainWindow
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)


def _rows(window: MainWindow) -> list[list[str]]:
    tree = window.library.tree
    rows = []
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        rows += [[top.child(j).text(c) for c in range(6)] for j in range(top.childCount())]
    return rows


def test_import_shows_the_file_with_its_fit_and_delete_asks_first(
    qtbot: QtBot,
    main_window: Callable[[], MainWindow],
    tiny_f16: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = main_window()
    wait_until(qtbot, lambda: "No GGUF files" in window.library.status.text())
    window.library.import_file(tiny_f16)
    wait_until(qtbot, lambda: len(_rows(window)) == 1)
    assert window.library.status.text().startswith("1 model in ")
    assert (library_dir() / tiny_f16.name).read_bytes() == tiny_f16.read_bytes()
    wait_until(qtbot, lambda: "RAM" in _rows(window)[0][3], 30_000)  # the fit badge
    level, size, bpw, fit, speed, quality = _rows(window)[0]
    assert level.startswith("F16") and "MiB" in size and float(bpw) > 16
    assert fit.split(" · ")[0] in {"Full GPU", "Partial GPU", "CPU only", "Will not fit"}
    assert speed == "not measured"
    assert quality == "reference · not measured"  # the full-precision file is the yardstick

    window.library.select_path(str(library_dir() / tiny_f16.name))
    assert window.library.delete_button.isEnabled()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    window.library.delete_button.click()
    assert (library_dir() / tiny_f16.name).exists()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.library.delete_button.click()
    assert not (library_dir() / tiny_f16.name).exists()
    wait_until(qtbot, lambda: _rows(window) == [])


def test_a_damaged_file_is_listed_with_the_reason(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    put_in_library(tiny_f16)
    damaged = library_dir() / "broken-Q4_K_M.gguf"
    damaged.write_bytes(tiny_f16.read_bytes()[:4096])
    window = main_window()
    wait_until(qtbot, lambda: len(_rows(window)) == 2)
    broken = next(r for r in _rows(window) if r[0] == "Q4_K_M")
    assert broken[3].startswith("⚠")
    assert window.chat.model_bar.combo.count() == 1  # only loadable files are offered for chat
