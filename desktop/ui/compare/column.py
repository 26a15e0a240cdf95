"""One level in the side-by-side comparison: its reply streaming, and its figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QLabel, QTextBrowser, QVBoxLayout, QWidget

from converter.errors import Cancelled
from desktop.engine.reasoning import split_reply
from desktop.services.reply_figures import reply_figures
from desktop.ui.chat.code_blocks import code_tint, style_code
from desktop.ui.compare.status_text import StatusText

if TYPE_CHECKING:
    from desktop.engine.worker.results import ReplyStats

RENDER_INTERVAL_MS = 100
#: A few lines of reply; lower than a text box's default, so the whole compare view (columns
#: and ladder) fits a 1024×640 window.
BODY_MIN_HEIGHT = 38


class CompareColumn(QFrame):
    def __init__(self, path: Path, level: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path, self.level = path, level
        self.text = ""
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"{level} reply")
        self.title = QLabel(f"<b>{level}</b> · {path.name}")
        self.title.setWordWrap(True)
        self.quality = QLabel("Quality: not measured")
        self.quality.setObjectName("statsLine")
        self.quality.setAccessibleName(f"{level} quality")
        self.status = StatusText("ready")
        self.status.setObjectName("hint")
        self.status.setAccessibleName(f"{level} status")
        self.body = QTextBrowser()
        self.body.setAccessibleName(f"{level} text")
        self.body.setMinimumHeight(BODY_MIN_HEIGHT)
        self.stats = QLabel("")
        self.stats.setObjectName("statsLine")
        self.stats.setAccessibleName(f"{level} statistics")
        self.stats.setWordWrap(True)
        layout = QVBoxLayout(self)
        for widget in (self.title, self.quality, self.status):
            layout.addWidget(widget)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.stats)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RENDER_INTERVAL_MS)
        self._timer.timeout.connect(self._render)

    def reset(self) -> None:
        """Empty, waiting for a new run (a column is reused from run to run)."""
        self._timer.stop()
        self.text = ""
        self.body.clear()
        self.stats.setText("")
        self.set_status("waiting")

    def set_quality(self, text: str) -> None:
        self.quality.setText(f"Quality: {text}")

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def append(self, piece: str) -> None:
        self.text += piece
        if not self._timer.isActive():
            self._timer.start()

    def _render(self) -> None:
        self.body.setMarkdown(reply_markdown(self.text))
        style_code(
            self.body.document(), code_tint(self.body.palette().color(QPalette.ColorRole.Text))
        )
        bar = self.body.verticalScrollBar()
        bar.setValue(bar.maximum())

    def finish(self, stats: ReplyStats) -> None:
        self.text = stats.text
        self._render()
        self.stats.setText(" · ".join(reply_figures(stats, memory=True)))
        self.set_status("stopped" if stats.cancelled else "done")

    def fail(self, exc: BaseException) -> None:
        self._render()
        self.set_status("stopped" if isinstance(exc, Cancelled) else f"failed: {exc}")


def reply_markdown(text: str) -> str:
    """A reply as the column shows it: a reasoning model's thinking quoted above its answer
    (the levels' thinking is part of what is compared, so it is not folded away here)."""
    parts = split_reply(text)
    if not parts.thinking:
        return parts.answer
    quoted = "\n".join(f"> {line}" for line in parts.thinking.splitlines())
    return f"> **Thinking**\n>\n{quoted}\n\n{parts.answer}"
