"""The chat view's work on the messages already there: regenerate, edit in place (the user's
messages are sent again, replies just change), and insert a message between two others.

A part of :class:`~desktop.ui.chat.chat_view.ChatView` (its base class), kept apart so that
each file reads in one sitting; it uses the view's store, session, transcript and sending.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktop.ui.chat.chat_session import ChatSession, SessionState
from desktop.ui.chat.transcript import MessageWidget, Transcript

if TYPE_CHECKING:
    from desktop.services.conversations import ConversationStore
    from desktop.ui.chat.model_bar import ModelBar

EDITED_SUMMARY = "edited"  # a reply's statistics line once its text is the user's


class MessageEdits:
    """Regenerate, edit and insert, for the chat view that inherits it."""

    store: ConversationStore
    session: ChatSession
    transcript: Transcript
    model_bar: ModelBar
    conversation_id: int | None

    if TYPE_CHECKING:  # the chat view's own, used here

        def send(self, text: str) -> None: ...
        def _start_reply(self) -> None: ...
        def _connect_message(self, widget: MessageWidget) -> MessageWidget: ...
        def _on_state_changed(self, state: SessionState) -> None: ...

    # regenerate and edit ---------------------------------------------------------------------
    def regenerate(self) -> None:
        """Another reply in place of the last one; after a message of the user's that ends
        the conversation (one inserted there), a reply to it."""
        if self.session.state is not SessionState.READY or self.conversation_id is None:
            return
        messages = self.store.get(self.conversation_id).messages
        if not messages:
            return
        if messages[-1].role == "assistant":
            self._truncate(messages[-1].position)
        self._start_reply()

    def edit_and_resend(self, position: int, text: str) -> None:
        """Replace the user message at ``position``, drop what followed, and ask again."""
        if self.session.state is not SessionState.READY or self.conversation_id is None:
            return
        self._truncate(position)
        self.send(text)

    def edit_reply(self, position: int, text: str) -> None:
        """Replace the reply at ``position`` with ``text`` (what follows stays): the next
        turns, and Continue, go on from the edited reply."""
        if self.session.state is SessionState.GENERATING or self.conversation_id is None:
            return
        messages = self.store.get(self.conversation_id).messages
        message = next((m for m in messages if m.position == position), None)
        widget = next((w for w in self.transcript.messages if w.position == position), None)
        if message is None or widget is None or message.role != "assistant":
            return
        stats = {**message.stats, "summary": EDITED_SUMMARY, "edited": True}
        self.store.set_message(message.id, text, complete=True, stats=stats)
        widget.finish(text)
        widget.set_stats(EDITED_SUMMARY)

    # insert ----------------------------------------------------------------------------------
    def _on_insert_requested(self, position: int, role: str) -> None:
        """Open an empty editor at ``position``; the message is stored when Insert is pressed
        (Cancel leaves the conversation as it was)."""
        if self.session.state is SessionState.GENERATING or self.conversation_id is None:
            return
        for widget in list(self.transcript.messages):
            if widget.draft:
                self.transcript.remove(widget)
            elif widget.editing:
                widget.end_edit()
        draft = self.transcript.insert(
            self.transcript.index_for(position), role, "", position, draft=True
        )
        draft.edit_submitted.connect(
            lambda at, text, w=draft: self.insert_message(at, w.role, text, draft=w)
        )
        draft.edit_cancelled.connect(lambda w=draft: self._drop_draft(w))
        draft.begin_edit()
        self.transcript.keep_in_view(draft.edit_row)

    def insert_message(
        self, position: int, role: str, text: str, *, draft: MessageWidget | None = None
    ) -> None:
        """Store ``text`` as a ``role`` message at ``position``; the messages after it move
        one place down, and the next reply sees the conversation in this order."""
        if self.session.state is SessionState.GENERATING or self.conversation_id is None:
            return
        try:
            self.store.insert(self.conversation_id, position, role, text)
        except ValueError as exc:
            self.model_bar.status.setText(str(exc))
            return
        if draft is not None:
            self.transcript.remove(draft)
        for widget in self.transcript.messages:
            if widget.position >= position:
                widget.position += 1
        widget = self.transcript.insert(self.transcript.index_for(position), role, text, position)
        self._connect_message(widget)
        if role == "assistant":
            widget.finish(text)
        self.transcript.mark_last_reply()
        self._on_state_changed(self.session.state)

    def _drop_draft(self, draft: MessageWidget) -> None:
        self.transcript.remove(draft)
        self.transcript.mark_last_reply()

    def _truncate(self, position: int) -> None:
        assert self.conversation_id is not None
        self.store.truncate(self.conversation_id, position)
        index = next(
            (i for i, w in enumerate(self.transcript.messages) if w.position >= position),
            len(self.transcript.messages),
        )
        self.transcript.remove_from(index)

    def _on_edit_requested(self, position: int) -> None:
        """Edit in place: the message's bubble turns into an editor (one at a time)."""
        for widget in list(self.transcript.messages):
            if widget.draft:
                self.transcript.remove(widget)
            elif widget.position == position:
                widget.begin_edit()
                self.transcript.keep_in_view(widget.edit_row)
            elif widget.editing:
                widget.end_edit()
