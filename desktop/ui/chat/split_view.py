"""Split view: a second conversation beside the first, both answered by the one loaded model.

The chat has one worker session. A model loaded with two or more replies at once (its load
settings) answers both panes at the same time, each reply in its own slot of the worker's
continuous batching. Loaded with one, the two panes take turns: a message sent while the other
pane's reply runs is stored and shown at once, and its reply starts as soon as the running one
ends (the waiting pane says so); Regenerate, Continue and a message's Edit, which need the
model now, are off in the waiting pane, their tooltips saying why. :class:`SplitTurns` holds
who waits; :class:`SplitView` routes the session's tokens and results, which carry the pane's
name, to that pane's :class:`~desktop.ui.chat.reply_stream.ReplyStream`. The pane beside works
on its messages as the main pane does, through its own
:class:`~desktop.ui.chat.message_edits.MessageEdits`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from desktop.ui.chat.chat_session import ChatSession, SessionState
from desktop.ui.chat.message_edits import MessageEdits
from desktop.ui.chat.reply_stream import ReplyStream
from desktop.ui.chat.split_pane import SplitPane
from desktop.ui.chat.transcript import Transcript
from desktop.ui.icons import set_icon

if TYPE_CHECKING:
    from desktop.engine.worker.results import ReplyStats
    from desktop.services.app_settings import Settings
    from desktop.services.conversations import ConversationStore
    from desktop.ui.chat.conversation_list import ConversationList
    from desktop.ui.chat.model_bar import ModelBar

MAIN, BESIDE = "main", "beside"


class ChatHost(Protocol):
    """What the split needs of the chat view it belongs to (the chat view is one): its store,
    session and controls, and its own handlers for the main pane's replies."""

    store: ConversationStore
    session: ChatSession
    settings: Settings
    conversations: ConversationList
    model_bar: ModelBar
    conversation_id: int | None
    text_completion: bool

    def _on_state_changed(self, state: SessionState) -> None: ...
    def _on_token(self, piece: str) -> None: ...
    def _on_reply_done(self, stats: ReplyStats, left_out: int) -> None: ...
    def _on_reply_failed(self, exc: BaseException) -> None: ...
    def refresh_settings_panel(self) -> None: ...
    def reload_for_replies_at_once(self, count: int) -> None: ...


class SplitTurns:
    """Which pane's reply runs (the session knows) and the replies that wait for a free slot,
    in order."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self._waiting: list[tuple[str, Callable[[], None]]] = []

    def running(self, side: str) -> bool:
        """The session is writing ``side``'s reply."""
        return self.session.replying(side)

    def busy_elsewhere(self, side: str) -> bool:
        """The other side's reply takes the only slot: ``side``'s must wait."""
        session = self.session
        return (
            session.state is SessionState.GENERATING
            and not session.replying(side)
            and not session.can_reply(side)
        )

    def waiting(self, side: str) -> bool:
        return any(s == side for s, _ in self._waiting)

    def wait(self, side: str, start: Callable[[], None]) -> None:
        self._waiting.append((side, start))

    def drop(self, side: str) -> None:
        self._waiting = [(s, f) for s, f in self._waiting if s != side]

    def next_turn(self) -> None:
        """A reply ended: start the replies that waited longest, as slots allow."""
        while self._waiting and self.session.can_reply(self._waiting[0][0]):
            _side, start = self._waiting.pop(0)
            start()  # a start that no longer applies (its conversation closed) does nothing


class SplitView:
    """The chat view's split: the pane beside, the Split action, and the routing of the one
    session's tokens and results to the pane whose reply it is (the main pane's own handlers
    are the chat view's)."""

    def __init__(self, chat: ChatHost, parent: QWidget) -> None:
        """``parent``: the widget that owns the Split action (the chat view itself)."""
        self.chat, self._parent = chat, parent
        self.store, self.session = chat.store, chat.session
        self.pane = SplitPane(chat.store)
        self.pane.hide()
        self.turns = SplitTurns(chat.session)
        self._crash_shown = False  # the main pane shows the last crash's Reload model
        #: The pane's reply as it streams, and the work on its messages.
        self.stream = ReplyStream(
            chat.session,
            chat.store,
            self.pane.transcript,
            self.pane.composer,
            owner=BESIDE,
            parent=parent,
        )
        self.edits = MessageEdits(self)
        self.action = QAction("S&plit: a second conversation beside", parent)
        self.action.setCheckable(True)
        self.action.setToolTip(
            "Show a second conversation beside this one (a conversation's menu in the list: "
            "Open beside); the loaded model answers both, together if it was loaded with 2 "
            "replies at once (Load settings), else one after the other"
        )
        set_icon(self.action, "arrow-bar-right")
        self.action.triggered.connect(
            lambda checked: self.open_beside(None) if checked else self.close()
        )
        chat.conversations.open_beside_requested.connect(self.open_beside)
        self.pane.send_requested.connect(self.send)
        self.pane.stop_requested.connect(self._stop)
        self.pane.close_requested.connect(self.close)
        self.pane.together_requested.connect(lambda: chat.reload_for_replies_at_once(2))

    def open_beside(self, conversation_id: int | None) -> None:
        """Show ``conversation_id`` (None: a new conversation) in the pane beside."""
        chat = self.chat
        if conversation_id is not None and conversation_id == chat.conversation_id:
            chat.model_bar.status.setText("That conversation is open already; pick another.")
            self.action.setChecked(self.pane.isVisibleTo(self._parent))
            return
        self._stop()
        self.turns.drop(BESIDE)
        if conversation_id is None:
            conversation_id = chat.store.create(
                model_path=chat.model_bar.current_path() or "",
                system_prompt=chat.settings.system_prompt,
                settings=chat.settings.sampling.to_json(),
            )
            chat.conversations.refresh()
        self.stream.let_go()  # a reply still ending is stored, not shown here
        self.pane.show_conversation(conversation_id)
        self.edits.show(chat.store.get(conversation_id))
        self.pane.show()
        self.action.setChecked(True)
        self.update_controls(chat.session.state)
        chat.refresh_settings_panel()  # when it follows the pane beside

    def close(self) -> None:
        """One pane again; a reply the pane beside was getting stops (what came is kept)."""
        self._stop()
        self.turns.drop(BESIDE)
        self.pane.hide()
        self.action.setChecked(False)
        self.chat.refresh_settings_panel()  # the main pane's again

    def update_controls(self, state: SessionState) -> None:
        """The pane's Send and Stop and its messages' buttons, for the session's ``state``
        and whose turn it is."""
        can_send = state in (SessionState.READY, SessionState.GENERATING)
        self.pane.composer.set_generating(
            self.session.replying(BESIDE),
            can_send=can_send
            and not self.turns.waiting(BESIDE)
            and self.pane.conversation_id is not None,
        )
        self.edits.update_buttons()
        session = self.session
        self.pane.together_button.setVisible(session.load_info is not None and session.slots == 1)
        self.pane.together_button.setEnabled(state is SessionState.READY)

    # the pane beside, as its message edits see it --------------------------------------------
    @property
    def conversation_id(self) -> int | None:
        return self.pane.conversation_id

    @property
    def transcript(self) -> Transcript:
        return self.pane.transcript

    @property
    def text_completion(self) -> bool:
        return self.chat.text_completion

    def may_reply(self) -> bool:
        return (
            self.session.can_reply(BESIDE)
            and not self.turns.waiting(BESIDE)
            and self.pane.conversation_id is not None
        )

    def replying(self) -> bool:
        return self.turns.running(BESIDE) or self.turns.waiting(BESIDE)

    def busy_elsewhere(self) -> bool:
        return self.turns.busy_elsewhere(BESIDE)

    def show_status(self, text: str) -> None:
        self.pane.composer.speed_label.setText(text)

    def refresh(self) -> None:
        self.chat._on_state_changed(self.session.state)

    def send(self, text: str) -> None:
        """Store the pane's message and ask for its reply, now or when the other one ends."""
        cid = self.pane.conversation_id
        if cid is None or self.turns.waiting(BESIDE):
            return
        store = self.store
        if not store.get(cid).messages:
            store.rename(cid, text.splitlines()[0][:60])
            self.pane.title.setText(store.get(cid).title)
            self.chat.conversations.refresh()
            self.chat.refresh_settings_panel()
        store.append(cid, "user", text)
        self.edits.add("user", text, len(store.get(cid).messages) - 1)

        def start() -> None:
            if self.pane.conversation_id == cid and self.session.can_reply(BESIDE):
                self.edits.start_reply()

        if self.session.can_reply(BESIDE):
            start()
        elif self.turns.busy_elsewhere(BESIDE):
            self.turns.wait(BESIDE, start)
            self.pane.show_waiting()
        self.refresh()

    def _stop(self) -> None:
        self.session.stop(BESIDE)

    # the session's replies, to the pane they belong to -------------------------------------
    def route_replies(self) -> None:
        session = self.chat.session
        session.loaded.connect(self._on_loaded)
        session.token.connect(self._on_token)
        session.reply_done.connect(self._on_reply_done)
        session.reply_failed.connect(self._on_reply_failed)

    def _on_loaded(self, _info: object) -> None:
        self._crash_shown = False

    def _on_token(self, owner: str, piece: str) -> None:
        if owner == BESIDE:
            self.stream.on_token(piece)
        else:
            self.chat._on_token(piece)

    def _on_reply_done(self, owner: str, stats: ReplyStats, left_out: int) -> None:
        if owner == BESIDE:
            self.stream.done(stats, left_out)
        else:
            self.chat._on_reply_done(stats, left_out)
        self._next_turn()

    def _on_reply_failed(self, owner: str, exc: BaseException) -> None:
        crashed = self.session.state is SessionState.CRASHED
        if owner != BESIDE:
            self.chat._on_reply_failed(exc)
            self._crash_shown = crashed
        else:
            self.stream.failed()
            self.pane.composer.speed_label.setText(str(exc)[:200])
            # The main pane offers Reload model, once for a crash that ends both replies.
            if crashed and not self._crash_shown and not self.session.replying(MAIN):
                self.chat._on_reply_failed(exc)
                self._crash_shown = True
        self._next_turn()

    def _next_turn(self) -> None:
        self.turns.next_turn()
        self.chat._on_state_changed(self.chat.session.state)
