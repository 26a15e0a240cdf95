"""A word-wrapped label that claims the height its lines need at its current width.

A ``QLabel`` with word wrap tells its layout a minimum height for one line only; the height
for its real width (``heightForWidth``) is not passed up through a ``QSplitter``. When the
room is short, the layout then gives the label fewer pixels than its lines take and the
widget above it draws under them: at 1024×640 the compare view's three-line recommendation
rule lay over the ladder chart's legend. :class:`WrappedLabel` sets its minimum height from
its width whenever that changes, so the layouts above it (and the splitter) make room.
"""

from __future__ import annotations

from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget


class WrappedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def setText(self, text: str) -> None:  # Qt's name, so it reads as a QLabel
        super().setText(text)
        self._claim_height()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._claim_height()

    def _claim_height(self) -> None:
        if self.width() <= 0:
            return
        needed = self.heightForWidth(self.width())
        if needed > 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)
