"""One pane's reply as it is written: asked of the session, streamed into its message, saved.

Each pane of the chat (the main one and the one beside) has its own :class:`ReplyStream`,
named by its pane (the ``owner`` of its replies in the chat's one worker session);
:class:`~desktop.ui.chat.split_view.SplitView` routes the session's tokens and results to the
stream they belong to. Both run at once when the model was loaded with two or more parallel
replies; otherwise they take turns.

Nothing is lost: the reply is stored as it streams (every :data:`SAVE_INTERVAL_MS`) and again
when it ends, also when it fails or its pane shows another conversation meanwhile.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer

from desktop.services.app_settings import Sampling
from desktop.services.reply_figures import reply_figures
from desktop.ui.chat.chat_session import ChatSession
from desktop.ui.chat.composer import Composer
from desktop.ui.chat.transcript import MessageWidget, Transcript

if TYPE_CHECKING:
    from desktop.engine.worker.results import ReplyStats
    from desktop.services.conversations import Conversation, ConversationStore

SAVE_INTERVAL_MS = 1000


def reply_stats_text(stats: ReplyStats) -> str:
    note = " · stopped" if stats.cancelled else ""
    return " · ".join(reply_figures(stats)) + note


class ReplyStream:
    """The reply one pane is getting: its message, its stored row, the live speed line."""

    def __init__(
        self,
        session: ChatSession,
        store: ConversationStore,
        transcript: Transcript,
        composer: Composer,
        *,
        owner: str,
        parent: QObject,
    ) -> None:
        """``owner``: the pane's name, which the session's signals carry for its replies."""
        self.session, self.store = session, store
        self.transcript, self.composer = transcript, composer
        self.owner = owner
        self.widget: MessageWidget | None = None
        self.reply_id: int | None = None
        #: The text a Continue writes on from (empty for a new reply).
        self.continued = ""
        #: The reply's text so far (a Continue's start included), kept when its pane lets go.
        self.text = ""
        self._first_token_at: float | None = None
        self._opened_thinking = False  # the reply began inside <think> (noted in its stats)
        #: Context tokens the pane's conversation took at its last reply (None: not known).
        self.context_used: int | None = None
        self._save_timer = QTimer(parent)
        self._save_timer.setInterval(SAVE_INTERVAL_MS)
        self._save_timer.timeout.connect(self._save_partial)

    @property
    def active(self) -> bool:
        return self.reply_id is not None

    def start(
        self,
        conversation: Conversation,
        widget: MessageWidget,
        reply_id: int,
        *,
        text_completion: bool,
        continued: str = "",
    ) -> None:
        """Ask the session for the reply stored as ``reply_id`` and shown in ``widget``.

        ``conversation`` is what the model is sent: for a new reply, the messages before it;
        for a Continue (``continued``, the reply's text so far), the messages up to and with
        that reply. In chat mode a Continue renders the conversation with the model's template
        up to the reply and the reply's text follows; text completion continues the whole text.
        """
        self.widget, self.reply_id, self.continued = widget, reply_id, continued
        self.text = continued
        self._first_token_at = None
        self.composer.speed_label.setText("waiting for the first token…")
        self._save_timer.start()
        chosen = Sampling.from_json(conversation.settings)
        sampling, options = chosen.engine_settings(), chosen.template_options()
        messages = conversation.chat_messages()
        info = self.session.load_info
        # A chat reply under a template that opens ``<think>`` starts inside the thinking.
        self._opened_thinking = bool(
            not text_completion
            and info is not None
            and info.chat_template.opens_thinking_with(options)
        )
        widget.thinking_opened = self._opened_thinking or None
        if text_completion:
            self.session.send_text(messages, sampling, owner=self.owner)
        elif continued:
            self.session.continue_reply(
                messages[:-1], continued, sampling, owner=self.owner, template_options=options
            )
        else:
            self.session.send(messages, sampling, owner=self.owner, template_options=options)

    def let_go(self) -> None:
        """The pane shows something else: the reply is still stored when it ends, unseen."""
        self._save_partial()
        self.widget = None

    def on_token(self, piece: str) -> None:
        self.text += piece
        if self.widget is None:
            return
        now = time.monotonic()
        if self._first_token_at is None:
            self._first_token_at = now
        self.widget.append(piece)
        elapsed = now - self._first_token_at
        if elapsed > 0.2:
            rate = (self.session.streamed_tokens(self.owner) - 1) / elapsed
            self.composer.speed_label.setText(f"{rate:.1f} tokens/s")

    def show_context(self, used: int | None) -> None:
        """The pane's context line: ``used`` tokens of the loaded model's context."""
        self.context_used = used
        self.refresh_context()

    def refresh_context(self) -> None:
        """Show the context line again (for a model loaded or ejected since)."""
        info = self.session.load_info
        self.composer.show_context(self.context_used, info.ctx_tokens if info else None)

    def _save_partial(self) -> None:
        if self.reply_id is not None:
            self.store.set_message(self.reply_id, self.text, complete=False)

    def done(self, stats: ReplyStats, left_out: int = 0) -> None:
        """The reply ended (or was stopped): store it whole, with its figures; ``left_out``:
        the conversation's oldest messages the model was not sent (the context was full)."""
        summary = reply_stats_text(stats)
        if left_out:
            earlier = "message" if left_out == 1 else "messages"
            summary += f" · {left_out} earlier {earlier} left out (the context is full)"
        text = self.continued + stats.text
        if self.continued:
            summary = f"continued: {summary}"
        elif not text.strip() and not stats.cancelled:
            summary = f"empty reply · {summary}"
        self._finish(
            text,
            complete=not stats.cancelled,
            stats={
                "summary": summary,
                "tokens": stats.generated_tokens,
                "context_tokens": stats.prompt_tokens + stats.generated_tokens,
                "ttft_s": stats.time_to_first_token_seconds,
                "tokens_per_s": stats.generation_tokens_per_second,
                "stop": stats.stop_reason.value,
                "left_out": left_out,
            },
        )

    def failed(self) -> None:
        """The reply failed: what came is kept, marked interrupted."""
        self._finish(self.text, complete=False, stats={"summary": "interrupted"})

    def _finish(self, text: str, *, complete: bool, stats: dict[str, Any]) -> None:
        self._save_timer.stop()
        if self._opened_thinking:  # the stored text has no <think> of its own
            stats = {**stats, "opened_thinking": True}
        if self.reply_id is not None:
            self.store.set_message(self.reply_id, text, complete=complete, stats=stats)
        if self.widget is not None:
            self.widget.finish(text)
            self.widget.set_stats(str(stats.get("summary", "")))
            self.transcript.mark_last_reply()
            if "context_tokens" in stats:  # the pane still shows this conversation
                self.show_context(int(stats["context_tokens"]))
        self.widget, self.reply_id, self.continued, self.text = None, None, "", ""
        self.composer.speed_label.setText("")
