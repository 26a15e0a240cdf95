"""The chat screen's right-hand column: the open conversation's settings, always in view.

It shows :class:`ConversationSettingsForm` in a scroll area, under a title naming the
conversation it applies to; the chat view stores each change with the conversation. The
panel can be closed (its x, the Chat settings button, or the Chat menu); while the user has
not chosen, it shows itself only on a wide screen (:func:`shown_by_default`).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services.app_settings import Sampling
from desktop.ui.chat.conversation_settings import ConversationSettingsForm
from desktop.ui.icons import set_icon

#: The chat screen at least this wide (pixels) shows the panel until the user chooses.
AUTO_SHOW_MIN_WIDTH = 1400
PANEL_WIDTH = 300
MIN_WIDTH = 200  # shown by the user: the narrowest it gets (its fields then scroll)
NO_CONVERSATION_NOTE = (
    "No conversation is open: a change here starts a new one. New conversations begin "
    "with the defaults from Settings."
)
APPLIES_NOTE = "Changes are saved with this conversation and apply from its next reply."


def shown_by_default(chat_width: int) -> bool:
    """Whether the panel shows before the user has chosen: only where the chat keeps room."""
    return chat_width >= AUTO_SHOW_MIN_WIDTH


class ChatSettingsPanel(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: The user's choice, kept across restarts (None: not made, the width decides).
        self.choice: bool | None = None
        #: Shows and hides the panel (the Chat menu's item; its key is set by the window).
        self.toggle_action = QAction("Chat &settings panel", self)
        self.toggle_action.setCheckable(True)
        self.toggle_action.setToolTip("Show or hide the conversation's settings beside the chat")
        set_icon(self.toggle_action, "adjustments-horizontal")
        self.toggle_action.toggled.connect(self.setVisible)
        self.toggle_action.triggered.connect(self.choose)
        self.hide()
        self.setObjectName("chatSettingsPanel")
        self.setAccessibleName("Chat settings panel")
        self.setMaximumWidth(520)
        self._hold_room(False)
        title = QLabel("Chat settings")
        title.setObjectName("sectionTitle")
        self.close_button = QToolButton()
        self.close_button.setAccessibleName("Hide chat settings")
        self.close_button.setToolTip("Hide this panel (Chat settings in the bar shows it again)")
        self.close_button.setAutoRaise(True)
        set_icon(self.close_button, "x")
        self.close_button.clicked.connect(lambda: self.choose(False))
        header = QHBoxLayout()
        header.addWidget(title, 1)
        header.addWidget(self.close_button)

        self.conversation_label = QLabel()
        self.conversation_label.setAccessibleName("Settings apply to")
        self.conversation_label.setWordWrap(True)
        self.note = QLabel()
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        self.form = ConversationSettingsForm("", Sampling())
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 6, 0)
        column.addWidget(self.conversation_label)
        column.addWidget(self.form)
        column.addWidget(self.note)
        column.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 0, 4, 0)
        layout.addLayout(header)
        layout.addWidget(self.scroll_area, 1)

    def attach_button(self, button: QAbstractButton) -> None:
        """A checkable button that shows and hides the panel, in step with the action."""
        button.setChecked(self.toggle_action.isChecked())
        button.clicked.connect(self.choose)
        self.toggle_action.toggled.connect(button.setChecked)

    def choose(self, shown: bool) -> None:
        """The user shows or hides the panel: it stays so, also after a restart."""
        self.choice = shown
        self._hold_room(shown)
        self.toggle_action.setChecked(shown)

    def forget_choice(self) -> None:
        """Back to the default: shown or hidden by the chat's width."""
        self.choice = None
        self._hold_room(False)

    def _hold_room(self, hold: bool) -> None:
        """Shown by the user, the panel keeps at least :data:`MIN_WIDTH` when the window
        shrinks; shown by default, it asks for no more than its header, so that a window made
        small at once (a restore from maximized) gets small, and the panel then hides (see
        :meth:`follow_width`)."""
        self.setMinimumWidth(MIN_WIDTH if hold else 0)

    def follow_width(self, chat_width: int) -> None:
        """Until the user chooses, shown only where the chat keeps room beside it."""
        if self.choice is None:
            self.toggle_action.setChecked(shown_by_default(chat_width))

    def sizeHint(self) -> QSize:
        return QSize(PANEL_WIDTH, super().sizeHint().height())

    def show_conversation(
        self, title: str | None, system_prompt: str, sampling: Sampling, *, beside: bool = False
    ) -> None:
        """Show the settings of the conversation ``title`` (None: none is open, the app's
        defaults are shown); ``beside``: the one in the split view's second pane."""
        if title is None:
            self.conversation_label.setText("<b>No conversation open</b>")
            self.note.setText(NO_CONVERSATION_NOTE)
        else:
            where = " (the conversation beside)" if beside else ""
            self.conversation_label.setText(f"For <b>{_escaped(title)}</b>{where}")
            self.note.setText(APPLIES_NOTE)
        self.form.set_values(system_prompt, sampling)


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
