"""Start-up: what the main window imports before its first frame, and what waits for it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.ui.main_window import MainWindow
from desktop.ui.thread_tasks import running_workers
from tests.conftest import REPO_ROOT
from tests.support.ui_helpers import (  # noqa: F401 - fixtures are found by name
    main_window_fixture,
    settle_pool,
    wait_until,
)

#: Large stacks that no screen needs before the user asks for something: the hub client and
#: its HTTP stack, the GGUF reader with numpy, llama.cpp and the inference worker.
DEFERRED = ("huggingface_hub", "httpx2", "gguf", "numpy", "llama_cpp", "desktop.engine.worker")

_IMPORT_WINDOW = textwrap.dedent(
    """
    import sys
    import desktop.ui.main_window
    print(" ".join(sys.modules))
    """
)


def test_importing_the_main_window_leaves_the_heavy_stacks_for_later() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_WINDOW],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "PySide6.QtWidgets" in loaded  # the import really happened
    assert [name for name in DEFERRED if name in loaded] == []


#: Starts the app's window offscreen, waits for its start-up work, prints the import order.
_START_AND_LIST_IMPORTS = textwrap.dedent(
    """
    import importlib.abc, sys, time
    order = []

    class Record(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            order.append(name)
            return None

    sys.meta_path.insert(0, Record())
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from desktop.ui.main_window import MainWindow
    window = MainWindow()
    window.show()
    deadline = time.monotonic() + 60
    while (window.hardware is None or not window.library.status.text()) and (
        time.monotonic() < deadline
    ):
        app.processEvents()
        time.sleep(0.01)
    window.close()
    print(" ".join(order))
    """
)


def test_llama_libraries_load_before_numpy_in_the_app(tmp_path: Path) -> None:
    """A CUDA build of llama.cpp crashed in processes that imported numpy first."""
    result = subprocess.run(
        [sys.executable, "-c", _START_AND_LIST_IMPORTS],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "QUANTDESK_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    order = result.stdout.split()
    assert "numpy" in order and "llama_cpp.llama_cpp" in order  # both were loaded
    assert order.index("llama_cpp.llama_cpp") < order.index("numpy")


def test_background_work_starts_after_the_first_frame(
    qtbot: QtBot, main_window: Callable[[], MainWindow]
) -> None:
    window = main_window()  # shown, not yet painted: nothing may run before the first frame
    assert window._first_frame.pending and window.hardware is None
    wait_until(qtbot, lambda: not window._first_frame.pending, 10_000)
    wait_until(qtbot, lambda: window.hardware is not None, 30_000)  # the probe ran
    wait_until(qtbot, lambda: "No GGUF files" in window.library.status.text())  # the scan ran


def test_a_window_closed_before_its_first_frame_starts_nothing(qtbot: QtBot) -> None:
    settle_pool()
    window = MainWindow()
    qtbot.addWidget(window)
    window.close()
    settle_pool()  # would deliver the first-frame callback if one were still pending
    assert not window._first_frame.pending
    assert window.hardware is None and window.library.status.text() == ""
    assert running_workers() == 0
