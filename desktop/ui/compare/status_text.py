"""Status text that changes often without laying the view out again.

A ``QLabel`` asks its layout for room each time its text changes (``updateGeometry``); the
layouts above it then lay out, and repaint, the whole compare view. For one "loading 40%" that
was 5–8 ms of GUI-thread time and 44–72 widgets repainted (measured offscreen): small on an
idle machine, but while the levels' processes keep every core busy the OS stretches that work
into GUI gaps of 0.1–0.4 s. :class:`StatusText` keeps a fixed height (``lines`` lines) and its
text has no say in its size, so a change repaints this widget alone (about 1 ms).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget


class StatusText(QWidget):
    """``lines`` lines of text (word-wrapped when more than one, elided when too long)."""

    def __init__(self, text: str = "", *, lines: int = 1, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = text
        self._lines = lines
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._fit_height()
        self.setAccessibleDescription(text)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # QLabel's name, so it reads as one
        if text != self._text:
            self._text = text
            self.setAccessibleDescription(text)
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 24, self.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.height())

    def _fit_height(self) -> None:
        self.setFixedHeight(self._lines * self.fontMetrics().lineSpacing() + 2)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit_height()

    def paintEvent(self, _event: QPaintEvent) -> None:
        rect = self.contentsRect()
        if self._lines > 1:
            text = self._text
            flags = (
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
            )
        else:
            text = self.fontMetrics().elidedText(
                self._text, Qt.TextElideMode.ElideRight, rect.width()
            )
            flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter = QPainter(self)
        self.style().drawItemText(
            painter, rect, int(flags), self.palette(), self.isEnabled(), text,
            QPalette.ColorRole.WindowText,
        )  # fmt: skip
