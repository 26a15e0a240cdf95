"""Where the user types: Enter sends, Shift+Enter starts a new line, Esc stops the reply."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from desktop.ui.icons import set_icon

#: The Send/Stop column keeps this width whatever the live speed line says.
BUTTON_COLUMN_WIDTH = 132
#: From this share of the context on, the context line warns that the next message may not fit.
NEARLY_FULL = 0.85


class MessageEdit(QPlainTextEdit):
    submit = Signal()
    escape = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submit.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.escape.emit()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    send_requested = Signal(str)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = MessageEdit()
        self.edit.setAccessibleName("Message")
        self.edit.setPlaceholderText(
            "Type a message. Enter sends, Shift+Enter adds a line, Esc stops."
        )
        self.edit.setFixedHeight(84)
        self.edit.submit.connect(self._on_submit)
        self.edit.escape.connect(self.stop_requested.emit)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send the message (Enter)")
        set_icon(self.send_button, "send")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self._on_submit)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop")
        self.stop_button.setToolTip("Stop the reply; what was written so far is kept (Esc)")
        set_icon(self.stop_button, "player-stop")
        self.stop_button.clicked.connect(self.stop_requested.emit)
        self.speed_label = QLabel("")
        self.speed_label.setObjectName("statsLine")
        self.speed_label.setAccessibleName("Live speed")
        self.speed_label.setWordWrap(True)
        #: How full the conversation's context is, after its last reply.
        self.context_label = QLabel("")
        self.context_label.setObjectName("statsLine")
        self.context_label.setAccessibleName("Context used")
        self.context_label.setWordWrap(True)
        self.context_label.hide()

        column = QWidget()
        column.setFixedWidth(BUTTON_COLUMN_WIDTH)
        buttons = QVBoxLayout(column)
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.speed_label)
        buttons.addWidget(self.context_label)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(column)
        self.set_generating(False, can_send=False)
        self.setTabOrder(self.edit, self.send_button)
        self.setTabOrder(self.send_button, self.stop_button)

    def show_context(self, used: int | None, total: int | None) -> None:
        """``used`` of the loaded model's ``total`` context tokens (None: not known, hidden)."""
        if not used or not total:
            self.context_label.hide()
            return
        share = used / total
        self.context_label.setText(f"Context {share:.0%} full")
        note = (
            " Nearly full: the next message may not fit. Start a new conversation, or delete or "
            "shorten earlier messages."
            if share >= NEARLY_FULL
            else ""
        )
        self.context_label.setToolTip(
            f"The conversation and its last reply take {used} of the {total} tokens of context "
            f"the model was loaded with.{note}"
        )
        self.context_label.setProperty("warning", share >= NEARLY_FULL)
        self.context_label.style().unpolish(self.context_label)
        self.context_label.style().polish(self.context_label)
        self.context_label.show()

    def set_generating(self, generating: bool, *, can_send: bool) -> None:
        self.send_button.setEnabled(can_send and not generating)
        self.stop_button.setEnabled(generating)
        self._can_send = can_send and not generating

    def _on_submit(self) -> None:
        text = self.edit.toPlainText().strip()
        if text and self._can_send:
            self.edit.clear()
            self.send_requested.emit(text)
