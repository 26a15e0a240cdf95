"""The messages of one conversation, rendered as Markdown, with per-message actions.

A streaming reply re-renders at most every :data:`RENDER_INTERVAL_MS` (Markdown layout of a
long reply costs milliseconds; doing it per token would stall the event loop).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QPalette, QResizeEvent, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import Shiboken

from desktop.engine.reasoning import split_reply
from desktop.ui.chat.code_blocks import code_tint, style_code
from desktop.ui.chat.thinking_section import ThinkingSection
from desktop.ui.icons import set_icon

RENDER_INTERVAL_MS = 80
#: Messages sit in a centred column no wider than this: long lines stay readable on wide screens.
BUBBLE_MAX_WIDTH = 820
#: A transcript narrower than this (pixels) shows the messages' buttons as icons alone (their
#: names stay in the tooltips): a second conversation or the settings panel beside it.
COMPACT_BELOW_WIDTH = 600
ROLE_TITLES = {"user": "You", "assistant": "Assistant", "error": "Error"}
#: The roles a person can insert, with how the Insert menu names them.
INSERT_ROLES = {"user": "your message", "assistant": "a reply"}
#: Shown in place of a reply that ended before its first word (not stored as its text).
EMPTY_REPLY_TEXT = "*The model ended its reply without writing anything.*"
#: Shown in place of the answer of a reply that ended while the model was still thinking.
THOUGHT_ONLY_TEXT = "*The reply ended while the model was still thinking (see its thinking above).*"


class MessageBody(QTextBrowser):
    """A read-only Markdown view that is as tall as its text (the transcript scrolls, not it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBody")
        self.setOpenExternalLinks(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)

    def _fit_height(self) -> None:
        self.setFixedHeight(int(self.document().size().height()) + 6)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit_height()


class MessageWidget(QFrame):
    copy_requested = Signal()
    edit_requested = Signal(int)  # position
    edit_submitted = Signal(int, str)  # position, the new text
    edit_cancelled = Signal()
    insert_requested = Signal(int, str)  # the position a new message takes, its role
    regenerate_requested = Signal()
    continue_requested = Signal()
    reload_requested = Signal()

    def __init__(
        self,
        role: str,
        text: str,
        position: int,
        parent: QWidget | None = None,
        *,
        draft: bool = False,
    ) -> None:
        super().__init__(parent)
        self.role, self.position, self.text = role, position, text
        #: A message being written to insert: not stored until Insert is pressed.
        self.draft = draft
        self.finished = role != "assistant" or bool(text)  # a reply still streaming is not
        #: Whether the reply began inside ``<think>`` (its template opens it); None: told by
        #: the text (a stored reply).
        self.thinking_opened: bool | None = None
        self.setObjectName(f"{role}Message")
        self.setAccessibleName(f"{ROLE_TITLES.get(role, role)} message")
        note = " · new message, not yet in the conversation" if draft else ""
        self.title = QLabel(f"<b>{ROLE_TITLES.get(role, role)}</b>{note}")
        self.body = MessageBody()
        self.body.setAccessibleName(f"{ROLE_TITLES.get(role, role)} text")
        #: A reasoning model's thinking, folded above the answer (replies only).
        self.thinking = ThinkingSection(MessageBody()) if role == "assistant" else None
        self.stats_label = QLabel("")
        self.stats_label.setObjectName("statsLine")
        self.stats_label.setAccessibleName("Reply statistics")
        self.stats_label.hide()

        self._action_buttons: list[QPushButton] = []
        #: Each button's own tooltip, shown again once a note on why it is off is gone.
        self._tips: dict[QPushButton, str] = {}
        self.compact = False  # buttons as icons alone
        actions = QHBoxLayout()
        actions.addWidget(self.title)
        actions.addStretch(1)
        self.copy_button = self._action("Copy", self._on_copy_clicked, actions, "copy")
        self.set_tip(self.copy_button, "Copy the text of this message")
        self.edit_button = self._action(
            "Edit", lambda: self.edit_requested.emit(self.position), actions, "pencil"
        )
        self.set_tip(
            self.edit_button,
            "Change this reply's text here; the conversation goes on from your version"
            if role == "assistant"
            else "Change this message here and ask again",
        )
        self.insert_button = self._action("Insert", lambda: None, actions, "plus")
        self.set_tip(
            self.insert_button,
            "Insert a message of yours or a reply above or below this one; the model sees "
            "the conversation in the new order",
        )
        insert_menu = QMenu(self.insert_button)
        for where, offset in (("above", 0), ("below", 1)):
            for insert_role, words in INSERT_ROLES.items():
                action = insert_menu.addAction(f"Insert {words} {where}")
                action.triggered.connect(
                    lambda _=False, o=offset, r=insert_role: self.insert_requested.emit(
                        self.position + o, r
                    )
                )
        self.insert_button.setMenu(insert_menu)
        self.insert_menu = insert_menu
        self.regenerate_button = self._action(
            "Regenerate", self.regenerate_requested.emit, actions, "refresh"
        )
        self.set_tip(self.regenerate_button, "Ask the model for another reply")
        self.continue_button = self._action(
            "Continue", self.continue_requested.emit, actions, "arrow-bar-right"
        )
        self.set_tip(
            self.continue_button,
            "Let the model write on from the end of this reply (after Stop or the length limit)",
        )
        self.reload_button = self._action(
            "Reload model", self.reload_requested.emit, actions, "reload"
        )
        self.edit_button.setVisible(role in ("user", "assistant") and not draft)
        self.insert_button.setVisible(role in ("user", "assistant") and not draft)
        self.copy_button.setVisible(not draft)
        self.regenerate_button.hide()
        self.continue_button.hide()
        self.reload_button.setVisible(role == "error")

        # In-place editing: the text becomes editable inside the bubble.
        self.editor = QPlainTextEdit()
        self.editor.setAccessibleName("Edit message")
        self.editor.setFixedHeight(96)
        # A reply is saved as written; a message of the user's is sent again.
        save_words = "Insert" if draft else "Save" if role == "assistant" else "Save and send"
        self.save_button = QPushButton(save_words)
        self.save_button.setObjectName("primary")
        self.save_button.setAccessibleName(save_words)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel editing")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        edit_buttons = QHBoxLayout()
        edit_buttons.addStretch(1)
        edit_buttons.addWidget(self.cancel_button)
        edit_buttons.addWidget(self.save_button)
        self.edit_row = QWidget()
        edit_column = QVBoxLayout(self.edit_row)
        edit_column.setContentsMargins(0, 0, 0, 0)
        edit_column.addWidget(self.editor)
        edit_column.addLayout(edit_buttons)
        self.edit_row.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addLayout(actions)
        if self.thinking is not None:
            layout.addWidget(self.thinking)
        layout.addWidget(self.body)
        layout.addWidget(self.edit_row)
        layout.addWidget(self.stats_label)

        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self.render_now)
        self.render_now()

    def _action(
        self, text: str, slot: Callable[[], object], layout: QHBoxLayout, icon_name: str
    ) -> QPushButton:
        button = QPushButton(text)
        self._action_buttons.append(button)
        set_icon(button, icon_name)
        button.setAccessibleName(text)
        button.setFlat(True)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        button.clicked.connect(slot)
        layout.addWidget(button)
        return button

    def set_compact(self, compact: bool) -> None:
        """Buttons as icons alone (the transcript is narrow), or with their names."""
        self.compact = compact
        for button in self._action_buttons:
            button.setText("" if compact else button.accessibleName())

    def set_tip(self, button: QPushButton, tip: str) -> None:
        """``button``'s own tooltip."""
        self._tips[button] = tip
        button.setToolTip(tip)

    def explain(self, button: QPushButton, why: str | None) -> None:
        """The tooltip says ``why`` the button is off (None: its own tooltip again)."""
        button.setToolTip(why if why is not None else self._tips.get(button, ""))

    def set_action_name(self, button: QPushButton, name: str) -> None:
        """A button's name (shown unless compact) and its accessible name."""
        button.setAccessibleName(name)
        button.setText("" if self.compact else name)

    def append(self, piece: str) -> None:
        """Add streamed text; the view catches up at the next render tick."""
        self.text += piece
        if not self._render_timer.isActive():
            self._render_timer.start()

    def set_text(self, text: str) -> None:
        self.text = text
        self.render_now()

    def finish(self, text: str) -> None:
        """The reply is complete: an empty one says so instead of looking like it waits."""
        self.finished = True
        self.set_text(text)

    def render_now(self) -> None:
        self._render_timer.stop()
        if self.role == "user":
            self.body.setPlainText(self.text)
            return
        answer = self.text
        if self.thinking is not None:
            parts = split_reply(self.text, opened=self.thinking_opened, complete=self.finished)
            self.thinking.show_thinking(
                parts.thinking, still_thinking=parts.still_thinking and not self.finished
            )
            answer = parts.answer
            # While the model thinks, the open thinking shows the progress: no "…" below it.
            self.body.setVisible(bool(answer) or self.finished or not parts.thinking)
            if not answer and parts.thinking and self.finished:
                answer = THOUGHT_ONLY_TEXT if parts.still_thinking else ""
        placeholder = EMPTY_REPLY_TEXT if self.finished else "…"
        self.body.setMarkdown(answer or placeholder)
        tint = code_tint(self.body.palette().color(QPalette.ColorRole.Text))
        style_code(self.body.document(), tint)

    def begin_edit(self) -> None:
        """Show the text in an editor inside the bubble, with Save and send / Cancel."""
        self.editor.setPlainText(self.text)  # the thinking too, as the model wrote it
        self.body.hide()
        if self.thinking is not None:
            self.thinking.hide()
        self.edit_row.show()
        self.editor.setFocus()

    def end_edit(self) -> None:
        self.edit_row.hide()
        self.body.show()
        if self.thinking is not None:
            self.render_now()  # shows the thinking again, if the text has any

    def _on_cancel_clicked(self) -> None:
        self.end_edit()
        self.edit_cancelled.emit()

    @property
    def editing(self) -> bool:
        return not self.edit_row.isHidden()

    def _on_save_clicked(self) -> None:
        text = self.editor.toPlainText().strip()
        if text:
            self.end_edit()
            self.edit_submitted.emit(self.position, text)

    def set_stats(self, text: str) -> None:
        self.stats_label.setText(text)
        self.stats_label.setVisible(bool(text))

    def _on_copy_clicked(self) -> None:
        """The answer alone when the reply has one beside its thinking."""
        text = self.text
        if self.thinking is not None:
            text = split_reply(self.text, opened=self.thinking_opened).answer or text
        QGuiApplication.clipboard().setText(text)
        self.copy_requested.emit()


class Transcript(QScrollArea):
    """A vertical list of :class:`MessageWidget`, kept scrolled to the end while streaming."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Conversation")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        inner.setObjectName("transcriptArea")
        column = QWidget()
        column.setMaximumWidth(BUBBLE_MAX_WIDTH)
        column.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        centre = QHBoxLayout(inner)  # the stretches share what the column cannot take
        centre.addStretch(1)
        centre.addWidget(column, 1000)
        centre.addStretch(1)
        self._layout = QVBoxLayout(column)
        self._layout.setSpacing(10)
        self.empty_title = QLabel("Start a conversation")
        self.empty_title.setObjectName("emptyStateTitle")
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text = QLabel("")
        self.empty_text.setObjectName("emptyState")
        self.empty_text.setAccessibleName("What to do next")
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text.setWordWrap(True)
        self._layout.addStretch(1)
        self._layout.addWidget(self.empty_title)
        self._layout.addWidget(self.empty_text)
        self._layout.addStretch(1)
        self.setWidget(inner)
        self.messages: list[MessageWidget] = []
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self._follow = True
        #: A widget kept in view instead (an open editor), also when the layout changes.
        self._kept: QWidget | None = None
        self._compact = False  # the messages' buttons as icons alone

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        compact = event.size().width() < COMPACT_BELOW_WIDTH
        if compact != self._compact:
            self._compact = compact
            for widget in self.messages:
                widget.set_compact(compact)

    def set_empty_text(self, text: str) -> None:
        """What the empty conversation suggests doing next."""
        self.empty_text.setText(text)

    def _update_empty_state(self) -> None:
        empty = not self.messages
        self.empty_title.setVisible(empty)
        self.empty_text.setVisible(empty)

    def clear(self) -> None:
        for widget in self.messages:
            widget.setParent(None)
            widget.deleteLater()
        self.messages = []
        self._update_empty_state()

    def add(self, role: str, text: str, position: int = -1) -> MessageWidget:
        widget = MessageWidget(role, text, position)
        widget.set_compact(self._compact)
        # Messages stack from the top; the stretches below (around the empty state) take the rest.
        self._layout.insertWidget(len(self.messages), widget)
        self.messages.append(widget)
        self._follow, self._kept = True, None
        self._update_empty_state()
        return widget

    def index_for(self, position: int) -> int:
        """Where a message at ``position`` goes in the list: before the first stored message
        at that position or later (an error line has none and stays where it was)."""
        return next(
            (i for i, w in enumerate(self.messages) if w.position >= position),
            len(self.messages),
        )

    def insert(
        self, index: int, role: str, text: str, position: int, *, draft: bool = False
    ) -> MessageWidget:
        """A message put at ``index`` of the list (an insertion, not the end of the chat)."""
        widget = MessageWidget(role, text, position, draft=draft)
        widget.set_compact(self._compact)
        self._layout.insertWidget(index, widget)
        self.messages.insert(index, widget)
        self._update_empty_state()
        return widget

    def remove(self, widget: MessageWidget) -> None:
        if widget in self.messages:
            self.messages.remove(widget)
            widget.setParent(None)
            widget.deleteLater()
            self._update_empty_state()

    def remove_from(self, index: int) -> None:
        for widget in self.messages[index:]:
            widget.setParent(None)
            widget.deleteLater()
        del self.messages[index:]
        self._update_empty_state()

    def keep_in_view(self, widget: QWidget) -> None:
        """Stop following the end and show ``widget`` (the editor of a message being edited:
        the bubble grows as it opens, which would otherwise scroll it away)."""
        self._follow, self._kept = False, widget
        QTimer.singleShot(0, self._show_kept)

    def _show_kept(self) -> None:
        kept = self._kept
        if kept is not None and Shiboken.isValid(kept) and kept.isVisible():
            self.ensureWidgetVisible(kept, 0, 24)

    def mark_last_reply(self) -> None:
        """Only the last assistant message offers Regenerate and Continue; a message of the
        user's that ends the conversation (one inserted there) offers Reply."""
        for widget in self.messages:
            widget.regenerate_button.hide()
            widget.continue_button.hide()
        stored = [w for w in self.messages if w.role in ("user", "assistant") and not w.draft]
        if not stored or stored[-1] is not self.messages[-1]:
            return
        last = stored[-1]
        last.regenerate_button.show()
        if last.role == "assistant":
            last.set_action_name(last.regenerate_button, "Regenerate")
            last.set_tip(last.regenerate_button, "Ask the model for another reply")
            last.continue_button.show()
        else:
            last.set_action_name(last.regenerate_button, "Reply")
            last.set_tip(last.regenerate_button, "Ask the model for a reply to this message")

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)
        else:  # the window was resized or restyled while a message is edited
            self._show_kept()
