"""A reasoning model's thinking, folded above its answer.

Reasoning models (Qwen 3, DeepSeek R1 and its distills, QwQ …) think aloud between
``<think>`` and ``</think>`` before they answer. The chat shows that thinking apart, in a
muted block with a button that folds it away, as LM Studio does: open while the model is
still thinking (so the wait shows progress), folded once the answer begins. A person who opens
or folds it themselves decides from then on.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QTextBrowser, QVBoxLayout, QWidget

from desktop.ui.icons import set_icon


class ThinkingSection(QWidget):
    """A fold button and the thinking's text; hidden while there is no thinking."""

    def __init__(self, body: QTextBrowser, parent: QWidget | None = None) -> None:
        """``body``: the view that shows the thinking's text, as Markdown."""
        super().__init__(parent)
        self.toggle = QPushButton()
        self.toggle.setObjectName("thinkingToggle")
        self.toggle.setFlat(True)
        self.toggle.setCursor(Qt.CursorShape.PointingHandCursor)
        self.toggle.clicked.connect(self._on_toggled)
        self.body = body
        self.body.setObjectName("thinkingBody")
        self.body.setAccessibleName("The model's thinking")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self._chosen: bool | None = None  # open or folded by the person (None: not yet)
        self._thinking = ""
        self._still = False
        self.hide()

    @property
    def expanded(self) -> bool:
        if self._chosen is not None:
            return self._chosen
        return self._still

    def show_thinking(self, text: str, *, still_thinking: bool) -> None:
        """The thinking so far; ``still_thinking``: the model has not finished it yet."""
        self._still = still_thinking
        if not text and not still_thinking:
            self._thinking = ""
            self.hide()
            return
        changed = text != self._thinking
        self._thinking = text
        self._update(render=changed)
        self.show()

    def _on_toggled(self) -> None:
        self._chosen = not self.expanded
        self._update()

    def _update(self, *, render: bool = False) -> None:
        expanded = self.expanded
        if expanded and (render or self.body.isHidden()):  # folded text is laid out on opening
            self.body.setMarkdown(self._thinking)
        self.body.setVisible(expanded)
        words = len(self._thinking.split())
        label = "Thinking…" if self._still else f"Thought · {words} word{'s' if words != 1 else ''}"
        self.toggle.setText(label)
        self.toggle.setAccessibleName(label)
        self.toggle.setToolTip(
            "Hide the model's thinking" if expanded else "Show what the model thought first"
        )
        set_icon(self.toggle, "chevron-down" if expanded else "chevron-right")
