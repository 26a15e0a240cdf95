"""GUI entry point (``quantdesk-app``, and ``quantdesk`` with no command)."""

from __future__ import annotations

import sys


def run_app(*, quit_after_ms: int | None = None) -> int:
    """Create the QApplication and the main window, and run the event loop."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Quantdesk")
    window = MainWindow()
    window.show()
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, app.quit)
    return app.exec()


def main() -> None:
    sys.exit(run_app())
