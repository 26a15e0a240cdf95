"""When the main window first reaches the screen: start-up timing and a first-frame screenshot.

Used by ``quantdesk app --report-startup`` (benchmarks) and ``--screenshot PATH`` (smoke tests
of the bundle). The clock starts at the process's creation time as the kernel records it, so
a bundle's bootloader and interpreter start-up are counted, not only our own imports.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QWindow
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

from converter.storage import atomic_output


def seconds_since_process_start() -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) since the process was created.

    CPU time hardly depends on what else the machine is doing, so it is the figure to
    compare between runs on a busy machine.
    """
    process = psutil.Process()
    cpu = process.cpu_times()
    return time.time() - process.create_time(), cpu.user + cpu.system


class FirstFrameProbe(QObject):
    """Watches every event once, until the main window is first exposed or painted."""

    def __init__(self, app: QApplication, *, report: bool, screenshot: Path | None) -> None:
        super().__init__(app)
        self._app = app
        self._report = report
        self._screenshot = screenshot
        self._seen = False

    def _main_window_of(self, watched: QObject) -> QMainWindow | None:
        if isinstance(watched, QMainWindow):
            return watched
        if isinstance(watched, QWindow):
            for widget in self._app.topLevelWidgets():
                if isinstance(widget, QMainWindow) and widget.windowHandle() is watched:
                    return widget
        return None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self._seen and event.type() in (QEvent.Type.Expose, QEvent.Type.Paint):
            window = self._main_window_of(watched)
            if window is not None and window.isVisible():
                self._seen = True
                self._app.removeEventFilter(self)
                self._on_first_frame(window)
        return False

    def _on_first_frame(self, window: QWidget) -> None:
        if self._report:
            elapsed, cpu = seconds_since_process_start()
            print(
                f"Main window shown {elapsed:.3f} s after the process started "
                f"({cpu:.3f} s of CPU).",
                flush=True,
            )
        if self._screenshot is not None:
            target = self._screenshot
            QTimer.singleShot(0, lambda: save_screenshot(window, target))


def save_screenshot(window: QWidget, path: Path) -> None:
    """Write the window as PNG (whole file or nothing); a failure is reported, not raised."""
    image = window.grab()
    try:
        with atomic_output(path) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise OSError(f"Qt could not write {tmp}")
    except OSError as exc:
        print(f"quantdesk: could not save the screenshot {path}: {exc}", file=sys.stderr)
        return
    print(f"Screenshot saved: {path} ({image.width()}x{image.height()})", flush=True)


def watch_first_frame(*, report: bool, screenshot: Path | None) -> FirstFrameProbe:
    """Install the probe on the QApplication (created here if needed, reused by the app)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv)
    probe = FirstFrameProbe(app, report=report, screenshot=screenshot)
    app.installEventFilter(probe)
    return probe
