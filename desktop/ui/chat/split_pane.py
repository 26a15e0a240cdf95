"""The second conversation of the split view: a transcript and a composer beside the first.

The pane shows one conversation of the store and sends messages to the one loaded model (the
chat keeps a single worker session). Loaded with two replies at once, it answers both panes
together; loaded with one, a message sent while the other pane's reply runs waits for it, and
the pane says so. Its messages are edited,
inserted, regenerated and continued as in the main pane, by the split's own
:class:`~desktop.ui.chat.message_edits.MessageEdits` (:mod:`split_view`); this widget is the
pane's title, transcript and composer.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services.conversations import ConversationStore
from desktop.ui.chat.composer import Composer
from desktop.ui.chat.transcript import Transcript
from desktop.ui.icons import set_icon

WAITING_NOTE = (
    "Waiting for the other reply: the model was loaded to write one at a time "
    "(Load settings: Replies at once)."
)


class SplitPane(QWidget):
    send_requested = Signal(str)
    stop_requested = Signal()
    close_requested = Signal()
    #: Load the model again so that it answers both panes at once.
    together_requested = Signal()

    def __init__(self, store: ConversationStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Second conversation")
        self.store = store
        self.conversation_id: int | None = None
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
        #: Offered while the loaded model writes one reply at a time.
        self.together_button = QPushButton("Answer both at once")
        self.together_button.setAccessibleName("Answer both conversations at once")
        self.together_button.setToolTip(
            "Load the model again with 2 replies at once, so that both conversations are "
            "answered together instead of in turn. It takes a second context's worth of KV "
            "cache memory; on the CPU each reply then streams at about half speed."
        )
        set_icon(self.together_button, "reload")
        self.together_button.clicked.connect(self.together_requested.emit)
        self.together_button.hide()
        header.insertWidget(1, self.together_button)  # left of the close button
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

    def show_conversation(self, conversation_id: int) -> None:
        """Name ``conversation_id`` in the title (its messages are shown by the split)."""
        conversation = self.store.get(conversation_id)
        self.conversation_id = conversation_id
        self.title.setText(conversation.title)
        self.title.setToolTip(conversation.title)

    def show_waiting(self) -> None:
        self.composer.speed_label.setText(WAITING_NOTE)
