"""Answering the app's modal message boxes from a GUI test, the way a person would."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

POLL_MS = 20


class MessageBoxAnswer:
    """Clicks ``button`` in the next message box that opens, and keeps the text it showed.

    A message box runs its own event loop, so the test cannot click it after the call that
    opens it; this polls from a timer until the box is up. ``texts`` lists what each answered
    box said (one entry per box).
    """

    def __init__(self, button: QMessageBox.StandardButton, *, times: int = 1) -> None:
        self.button = button
        self.remaining = times
        self.texts: list[str] = []
        self._timer = QTimer()
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._on_poll)
        self._timer.start()

    def _on_poll(self) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible():
            return
        target = box.button(self.button)
        if target is None:
            raise AssertionError(f"The message box has no {self.button} button: {box.text()}")
        self.texts.append(box.text())
        target.click()
        self.remaining -= 1
        if self.remaining == 0:
            self._timer.stop()

    def stop(self) -> None:
        self._timer.stop()
