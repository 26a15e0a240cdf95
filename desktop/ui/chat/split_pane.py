"""The second conversation of the split view: a transcript and a composer beside the first.

The pane shows one conversation of the store and sends messages to the one loaded model, which
writes one reply at a time (the chat keeps a single worker session): a message sent while the
other pane's reply runs waits for it, and the pane says so. Editing, inserting, regenerating
and continuing stay with the main pane; here the messages are read, copied and answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services.conversations import ConversationStore
from desktop.services.reply_figures import reply_figures
from desktop.ui.chat.composer import Composer
from desktop.ui.chat.transcript import MessageWidget, Transcript
from desktop.ui.icons import set_icon

if TYPE_CHECKING:
    from desktop.engine.worker.results import ReplyStats

WAITING_NOTE = "Waiting for the other reply: the model writes one at a time."


class SplitPane(QWidget):
    send_requested = Signal(str)
    stop_requested = Signal()
    close_requested = Signal()

    def __init__(self, store: ConversationStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Second conversation")
        self.store = store
        self.conversation_id: int | None = None
        self._reply: MessageWidget | None = None
        self._reply_id: int | None = None
        self.title = QLabel()
        self.title.setObjectName("sectionTitle")
        self.title.setAccessibleName("Second conversation's title")
        # A long title is cut at the pane's edge rather than widening the window.
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.close_button = QToolButton()
        self.close_button.setAccessibleName("Close the split")
        self.close_button.setToolTip("Close this pane; the chat shows one conversation again")
        self.close_button.setAutoRaise(True)
        set_icon(self.close_button, "x")
        self.close_button.clicked.connect(self.close_requested.emit)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.close_button)
        self.transcript = Transcript()
        self.transcript.set_empty_text("Type a message below; the loaded model answers here.")
        self.composer = Composer()
        self.composer.send_requested.connect(self.send_requested.emit)
        self.composer.stop_requested.connect(self.stop_requested.emit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.transcript, 1)
        layout.addWidget(self.composer)

    @property
    def replying(self) -> bool:
        return self._reply is not None

    def show_conversation(self, conversation_id: int) -> None:
        conversation = self.store.get(conversation_id)
        self.conversation_id = conversation_id
        self._reply, self._reply_id = None, None
        self.title.setText(conversation.title)
        self.title.setToolTip(conversation.title)
        self.transcript.clear()
        for message in conversation.messages:
            widget = self._add(message.role, message.content, message.position)
            if message.role == "assistant":
                widget.finish(message.content)
                widget.set_stats(str(message.stats.get("summary", "")) or "interrupted")

    def _add(self, role: str, text: str, position: int) -> MessageWidget:
        widget = self.transcript.add(role, text, position)
        for button in (widget.edit_button, widget.insert_button, widget.regenerate_button,
                       widget.continue_button):  # fmt: skip
            button.hide()  # the main pane's work
        return widget

    def add_user_message(self, text: str, position: int) -> None:
        self._add("user", text, position)

    def show_waiting(self) -> None:
        self.composer.speed_label.setText(WAITING_NOTE)

    def begin_reply(self, reply_id: int, position: int) -> None:
        self._reply_id = reply_id
        self._reply = self._add("assistant", "", position)
        self.composer.speed_label.setText("waiting for the first token…")

    def on_token(self, piece: str) -> None:
        if self._reply is not None:
            self._reply.append(piece)
            self.composer.speed_label.setText("writing…")

    def finish_reply(self, stats: ReplyStats | None) -> None:
        """Store the reply (``stats`` None: it failed; what came is kept as interrupted)."""
        if self._reply is None or self._reply_id is None:
            return
        if stats is None:
            text, complete, summary = self._reply.text, False, "interrupted"
            figures: dict[str, object] = {}
        else:
            text, complete = stats.text, not stats.cancelled
            summary = " · ".join(reply_figures(stats)) + (" · stopped" if stats.cancelled else "")
            figures = {"tokens": stats.generated_tokens, "stop": stats.stop_reason.value}
        self._reply.finish(text)
        self._reply.set_stats(summary)
        self.store.set_message(
            self._reply_id, text, complete=complete, stats={"summary": summary, **figures}
        )
        self._reply, self._reply_id = None, None
        self.composer.speed_label.setText("")
