"""GUI entry point (``quantdesk-app``, and ``quantdesk`` with no command)."""

from __future__ import annotations

import sys


def run_app(*, quit_after_ms: int | None = None) -> int:
    """Create the QApplication and the main window, and run the event loop."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from converter.huge_pages import ask_huge_pages_for_children
    from desktop.services.app_settings import load_settings
    from desktop.ui.main_window import MainWindow
    from desktop.ui.theme import app_icon, apply_theme

    # Set while this is the only thread: the children started later inherit it.
    ask_huge_pages_for_children()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName("Quantdesk")
    app.setDesktopFileName("quantdesk")  # resources/quantdesk.desktop: docks group its windows
    app.setWindowIcon(app_icon())
    settings = load_settings()
    apply_theme(app, settings.theme)
    window = MainWindow(settings)
    window.show()
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, window.close)
        QTimer.singleShot(quit_after_ms, app.quit)
    return app.exec()


def main() -> None:
    """``quantdesk-app``: like ``quantdesk app`` (the system-library check first, then Qt)."""
    from desktop.services.xcb_libraries import MISSING_LIBRARIES_EXIT, report_missing_libraries

    if not report_missing_libraries():
        sys.exit(MISSING_LIBRARIES_EXIT)
    sys.exit(run_app())
