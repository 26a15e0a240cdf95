"""Answering the app's modal message boxes from a GUI test, the way a person would."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

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


class InputDialogAnswer:
    """Types ``text`` into the next text-input dialog that opens and presses OK (see
    :class:`MessageBoxAnswer` for why it polls); ``labels`` keeps what each dialog asked."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.labels: list[str] = []
        self._timer = QTimer()
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._on_poll)
        self._timer.start()

    def _on_poll(self) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog) or not dialog.isVisible():
            return
        self.labels.append(dialog.labelText())
        dialog.setTextValue(self.text)
        dialog.accept()
        self._timer.stop()
