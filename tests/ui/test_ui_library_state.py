"""One source of truth: what the screens show follows the disk and comes back after a restart."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from converter.hub.recommend import load_recommendations
from converter.paths import library_dir
from converter.storage import atomic_output
from desktop.services.download_queue import DownloadEntry, DownloadState, save_queue
from desktop.ui.chat.chat_session import SessionState
from desktop.ui.main_window import MainWindow
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    put_in_library,
    tiny_f16_fixture,
    wait_until,
)


def _combo_names(window: MainWindow) -> list[str]:
    combo = window.chat.model_bar.combo
    return [combo.itemText(i) for i in range(combo.count())]


def _listed(window: MainWindow) -> list[str]:
    return [Path(f.path).name for g in window.library.groups for f in g.files]


def test_files_appearing_changing_and_vanishing_show_without_refresh(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    window = main_window()
    wait_until(qtbot, lambda: "No GGUF files" in window.library.status.text())
    # Written the way every Quantdesk writer (conversion, quantization, download) writes:
    # a temporary name in the folder, renamed when complete.
    target = library_dir() / "tiny-F16.gguf"
    with atomic_output(target) as tmp:
        tmp.write_bytes(tiny_f16.read_bytes())
    wait_until(qtbot, lambda: _listed(window) == ["tiny-F16.gguf"], 10_000)
    assert _combo_names(window) == ["tiny-F16.gguf"]

    sub = library_dir() / "kept"  # a conversion's output folder below the library
    sub.mkdir()
    os.replace(put_in_library(tiny_f16, "other-Q8_0.gguf"), sub / "other-Q8_0.gguf")
    wait_until(qtbot, lambda: len(_listed(window)) == 2, 10_000)

    target.write_bytes(tiny_f16.read_bytes()[:4096])  # damaged in place
    wait_until(qtbot, lambda: window.chat.broken_files.keys() == {str(target)}, 10_000)
    assert _combo_names(window) == ["other-Q8_0.gguf"]  # a broken file is not offered

    target.unlink()
    (sub / "other-Q8_0.gguf").unlink()
    wait_until(qtbot, lambda: _listed(window) == [], 10_000)
    assert _combo_names(window) == []


def _failed_downloads_of_every_suggestion() -> None:
    """Whatever the card suggests (its picks depend on the memory bandwidth it measures), a
    download of that model has failed."""
    entries = [
        DownloadEntry(
            repo_id=model.repo_id,
            revision="main",
            files=(model.filename,),
            size_bytes=model.size_bytes,
            level=model.level,
            dest_dir=library_dir(),
            state=DownloadState.FAILED,
            message="The hub could not be reached.",
        )
        for model in load_recommendations()
    ]
    save_queue(entries)


def test_get_started_never_calls_a_library_with_models_empty(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    _failed_downloads_of_every_suggestion()
    put_in_library(tiny_f16)
    window = main_window()
    card = window.get_started
    wait_until(qtbot, lambda: bool(card.rows) and window.library.groups != [], 30_000)
    wait_until(qtbot, card.isVisible)  # the failed downloads are still there to retry
    assert not card.intro.isVisible() and "empty" not in card.intro.text()
    assert all(row.isVisible() for row in card.rows)
    assert not any(row.blurb.isVisible() for row in card.rows)
    assert card.sizeHint().height() < 110 * len(card.rows)  # compact rows, not 40 % of the screen


def test_an_empty_library_gets_the_full_card_with_the_expected_speed(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()
    card = window.get_started
    wait_until(qtbot, lambda: card.isVisible() and card.bandwidth_bytes_per_second is not None)
    wait_until(qtbot, lambda: "Your library is empty" in card.intro.text())
    assert all("tokens/s" in row.name.text() for row in card.rows)


def test_a_known_broken_file_leaves_the_working_model_loaded(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    good = put_in_library(tiny_f16)
    broken = library_dir() / "broken-Q4_K_M.gguf"
    broken.write_bytes(tiny_f16.read_bytes()[:4096])
    window = main_window()
    wait_until(qtbot, lambda: str(broken) in window.chat.broken_files)
    window.chat.load_model(str(good), insist=True)
    wait_until(qtbot, lambda: window.chat.session.state is SessionState.READY, 60_000)
    window.library.chat_requested.emit(str(broken))  # a double-click on its row
    assert window.chat.session.state is SessionState.READY
    assert window.chat.session.load_info.path == str(good)
    assert "stays loaded" in window.chat.model_bar.status.text()
    assert window.chat.model_bar.current_path() == str(good)


def test_conversation_model_and_geometry_come_back(
    qtbot: QtBot, main_window: Callable[[], MainWindow], tiny_f16: Path
) -> None:
    model = put_in_library(tiny_f16)
    first = main_window()
    wait_until(qtbot, lambda: _listed(first) == [model.name])
    first.chat.load_model(str(model), insist=True)
    wait_until(qtbot, lambda: first.chat.session.state is SessionState.READY, 60_000)
    older = first.chat.new_conversation()
    first.store.rename(older, "older")
    wanted = first.chat.new_conversation()
    first.store.rename(wanted, "the one open")
    first.setGeometry(20, 50, 700, 500)
    geometry = first.geometry()
    first.close()

    second = main_window()
    assert second.chat.conversation_id == wanted
    assert second.chat.conversations.current_id() == wanted
    restored = second.geometry()
    assert restored.size() == geometry.size() and restored.y() == geometry.y()
    assert abs(restored.x() - geometry.x()) <= 20  # Qt and the guard keep it on the test screen
    wait_until(qtbot, lambda: second.chat.session.state is SessionState.READY, 60_000)
    assert second.chat.session.load_info.path == str(model)


def test_windows_open_on_screen(qtbot: QtBot, main_window: Callable[[], MainWindow]) -> None:
    window = main_window()
    available = QGuiApplication.primaryScreen().availableGeometry()
    window.resize(400, 300)
    window.move(available.right() - 100, available.bottom() - 80)  # mostly off the screen
    wizard = window.open_wizard()  # a window of its own (the Local API is a tab)
    qtbot.addWidget(wizard)
    for shown in (wizard, window):
        shown.hide()
        shown.show()
        frame = shown.frameGeometry()
        assert frame.left() >= available.left() and frame.top() >= available.top()
        if frame.width() <= available.width():
            assert frame.right() <= available.right()
        if frame.height() <= available.height():
            assert frame.bottom() <= available.bottom()
    wizard.close()
