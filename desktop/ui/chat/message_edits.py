"""The work on a pane's messages: show them, reply, regenerate, continue, edit in place (the
user's messages are sent again, replies just change), and insert a message between two others.

One :class:`MessageEdits` serves each pane of the chat, the main one and the one beside, on
that pane's conversation; the pane (:class:`EditHost`) says whether the one worker may write
its reply now, and sends. A model loaded to write one reply at a time serves one pane at once:
while the other pane's reply runs, this pane's Regenerate, Continue and a message's Edit (which
asks again) are disabled, their tooltips saying why; a reply's edit and Insert need no model
and stay. Loaded with two replies at once, both panes work at the same time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from desktop.ui.chat.chat_session import ChatSession
from desktop.ui.chat.transcript import MessageWidget, Transcript

if TYPE_CHECKING:
    from desktop.services.conversations import Conversation, ConversationStore
    from desktop.ui.chat.reply_stream import ReplyStream

EDITED_SUMMARY = "edited"  # a reply's statistics line once its text is the user's
#: The tooltip of a pane's Regenerate, Continue and Edit while the other pane gets its reply.
BUSY_ELSEWHERE_TIP = (
    "The other conversation's reply is being written, and the model was loaded to write one "
    "reply at a time. Wait for it, or press Stop there (or load the model with 2 replies at "
    "once: Load settings)."
)


class EditHost(Protocol):
    """A pane of the chat, as its :class:`MessageEdits` needs it."""

    store: ConversationStore
    session: ChatSession

    @property
    def conversation_id(self) -> int | None: ...
    @property
    def transcript(self) -> Transcript: ...
    @property
    def stream(self) -> ReplyStream: ...
    @property
    def text_completion(self) -> bool: ...

    def may_reply(self) -> bool:
        """The worker is free to write this pane's reply now."""

    def replying(self) -> bool:
        """This pane's reply is being written, or waits for its turn."""

    def busy_elsewhere(self) -> bool:
        """The other pane's reply is being written."""

    def send(self, text: str) -> None:
        """Store ``text`` as the user's next message and ask for the reply (now or in turn)."""

    def show_status(self, text: str) -> None: ...
    def refresh(self) -> None:
        """Enable and disable the pane's controls for the session's state and the turns."""


class MessageEdits:
    """Reply, regenerate, continue, edit and insert on one pane's conversation."""

    def __init__(self, host: EditHost) -> None:
        self.host = host

    @property
    def transcript(self) -> Transcript:
        return self.host.transcript

    # showing -----------------------------------------------------------------------------
    def show(self, conversation: Conversation) -> None:
        """The transcript shows ``conversation``'s messages, each with its actions."""
        self.transcript.clear()
        for message in conversation.messages:
            widget = self.add(message.role, message.content, message.position)
            if message.stats and message.stats.get("opened_thinking"):
                widget.thinking_opened = True  # the reply began inside <think>
                widget.render_now()
            if message.role == "assistant" and message.complete:
                widget.finish(message.content)
            if message.stats:
                widget.set_stats(str(message.stats.get("summary", "")))
            elif not message.complete:
                widget.set_stats("interrupted")
        self.transcript.mark_last_reply()
        replies = [m for m in conversation.messages if m.role == "assistant" and m.stats]
        used = replies[-1].stats.get("context_tokens") if replies else None
        self.host.stream.show_context(int(used) if isinstance(used, (int, float)) else None)

    def add(self, role: str, text: str, position: int) -> MessageWidget:
        return self.connect(self.transcript.add(role, text, position))

    def connect(self, widget: MessageWidget) -> MessageWidget:
        widget.insert_requested.connect(self.open_insert)
        widget.edit_requested.connect(self.open_edit)
        if widget.role == "assistant":
            widget.edit_submitted.connect(self.edit_reply)
        else:
            widget.edit_submitted.connect(self.edit_and_resend)
        widget.regenerate_requested.connect(self.regenerate)
        widget.continue_requested.connect(self.continue_reply)
        return widget

    def update_buttons(self) -> None:
        """Edit of a message of the user's, Regenerate and Continue ask the model: only when
        it is free for this pane. A reply's Edit and Insert wait only for this pane's reply."""
        host = self.host
        may_reply, own = host.may_reply(), host.replying()
        why = BUSY_ELSEWHERE_TIP if host.busy_elsewhere() else None
        for widget in self.transcript.messages:
            if widget.role == "user":
                widget.edit_button.setEnabled(may_reply)
                widget.explain(widget.edit_button, why)
            else:
                widget.edit_button.setEnabled(not own)
            widget.insert_button.setEnabled(not own)
            for button in (widget.regenerate_button, widget.continue_button):
                button.setEnabled(may_reply)
                widget.explain(button, why)

    # replies -----------------------------------------------------------------------------
    def start_reply(self) -> None:
        """A new reply at the end of the conversation, asked of the model now."""
        host = self.host
        cid = host.conversation_id
        assert cid is not None
        host.store.update(cid, model_path=str(host.session.model_path or ""))
        conversation = host.store.get(cid)
        reply_id = host.store.append(cid, "assistant", "", complete=False)
        widget = self.add("assistant", "", len(conversation.messages))
        host.stream.start(conversation, widget, reply_id, text_completion=host.text_completion)

    def regenerate(self) -> None:
        """Another reply in place of the last one; after a message of the user's that ends
        the conversation (one inserted there), a reply to it."""
        host = self.host
        if not host.may_reply() or host.conversation_id is None:
            return
        messages = host.store.get(host.conversation_id).messages
        if not messages:
            return
        if messages[-1].role == "assistant":
            self.truncate(messages[-1].position)
        self.start_reply()
        host.refresh()

    def continue_reply(self) -> None:
        """Let the model write on from the end of the last reply, in the same message."""
        host = self.host
        if not host.may_reply() or host.conversation_id is None:
            return
        conversation = host.store.get(host.conversation_id)
        widgets = self.transcript.messages
        if not conversation.messages or not widgets:
            return
        last, widget = conversation.messages[-1], widgets[-1]
        if last.role != "assistant" or widget.position != last.position:
            return
        widget.set_text(last.content)
        widget.set_stats("")
        host.store.set_message(last.id, last.content, complete=False, stats=last.stats)
        host.stream.start(
            conversation,
            widget,
            last.id,
            text_completion=host.text_completion,
            continued=last.content,
        )
        host.refresh()

    # edit --------------------------------------------------------------------------------
    def open_edit(self, position: int) -> None:
        """Edit in place: the message's bubble turns into an editor (one at a time)."""
        for widget in list(self.transcript.messages):
            if widget.draft:
                self.transcript.remove(widget)
            elif widget.position == position:
                widget.begin_edit()
                self.transcript.keep_in_view(widget.edit_row)
            elif widget.editing:
                widget.end_edit()

    def edit_and_resend(self, position: int, text: str) -> None:
        """Replace the user message at ``position``, drop what followed, and ask again."""
        if not self.host.may_reply() or self.host.conversation_id is None:
            return
        self.truncate(position)
        self.host.send(text)

    def edit_reply(self, position: int, text: str) -> None:
        """Replace the reply at ``position`` with ``text`` (what follows stays): the next
        turns, and Continue, go on from the edited reply."""
        host = self.host
        if host.replying() or host.conversation_id is None:
            return
        messages = host.store.get(host.conversation_id).messages
        message = next((m for m in messages if m.position == position), None)
        widget = next((w for w in self.transcript.messages if w.position == position), None)
        if message is None or widget is None or message.role != "assistant":
            return
        stats = {**message.stats, "summary": EDITED_SUMMARY, "edited": True}
        if "</think>" not in text:  # the edit took out the end of the thinking: all answer
            stats.pop("opened_thinking", None)
            widget.thinking_opened = None
        host.store.set_message(message.id, text, complete=True, stats=stats)
        widget.finish(text)
        widget.set_stats(EDITED_SUMMARY)

    # insert ------------------------------------------------------------------------------
    def open_insert(self, position: int, role: str) -> None:
        """Open an empty editor at ``position``; the message is stored when Insert is pressed
        (Cancel leaves the conversation as it was)."""
        if self.host.replying() or self.host.conversation_id is None:
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
        draft.edit_cancelled.connect(lambda w=draft: self.drop_draft(w))
        draft.begin_edit()
        self.transcript.keep_in_view(draft.edit_row)

    def insert_message(
        self, position: int, role: str, text: str, *, draft: MessageWidget | None = None
    ) -> None:
        """Store ``text`` as a ``role`` message at ``position``; the messages after it move
        one place down, and the next reply sees the conversation in this order."""
        host = self.host
        if host.replying() or host.conversation_id is None:
            return
        try:
            host.store.insert(host.conversation_id, position, role, text)
        except ValueError as exc:
            host.show_status(str(exc))
            return
        if draft is not None:
            self.transcript.remove(draft)
        for widget in self.transcript.messages:
            if widget.position >= position:
                widget.position += 1
        widget = self.transcript.insert(self.transcript.index_for(position), role, text, position)
        self.connect(widget)
        if role == "assistant":
            widget.finish(text)
        self.transcript.mark_last_reply()
        host.refresh()

    def drop_draft(self, draft: MessageWidget) -> None:
        self.transcript.remove(draft)
        self.transcript.mark_last_reply()

    def truncate(self, position: int) -> None:
        """Drop the messages from ``position`` on, stored and shown."""
        assert self.host.conversation_id is not None
        self.host.store.truncate(self.host.conversation_id, position)
        self.transcript.remove_from(self.transcript.index_for(position))
