"""The chat's link to the inference worker: a small state machine with Qt signals.

The :class:`InferenceWorker` calls block (loading, generating), so each runs in a pool
thread; tokens arrive through ``token`` on the GUI thread. Each reply has an owner (the name of
the pane it is for), which its signals carry; replies of different owners run at once up to the
loaded model's parallel replies (:attr:`ChatSession.slots`), and asking for more, or for a
reply while loading, is a programming error and raises. The engine is imported when the first
model loads, not with the window.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from converter.errors import WorkerCrashed
from converter.progress import Progress
from desktop.engine.reasoning import thinking_options
from desktop.services.context_window import without_oldest_exchange
from desktop.services.text_completion import completion_prompt
from desktop.ui.thread_tasks import ThreadTask

if TYPE_CHECKING:  # the engine itself is imported when the first model loads
    from desktop.engine.worker import (
        InferenceWorker,
        LoadInfo,
        LoadSettings,
        ReplyStats,
        ReplyTicket,
        SamplingSettings,
        WorkerStats,
    )


@dataclass(frozen=True, slots=True)
class ChatReply:
    """How a reply ended, and how many of the conversation's oldest messages were left out
    so that it fit the context."""

    stats: ReplyStats
    left_out: int = 0


#: One reply's work: ``call(engine, emit, ticket)`` returns how the reply ended.
ReplyCall = Callable[["InferenceWorker", Callable[[str], None], "ReplyTicket"], ChatReply]


def _fit_to_context(
    engine: InferenceWorker,
    messages: list[dict[str, str]],
    sampling: SamplingSettings,
    ask: Callable[[list[dict[str, str]], int], ReplyStats],
) -> ChatReply:
    """``ask(messages, reply_room)``, without the oldest exchanges while the conversation
    leaves the reply less than its token limit or a quarter of the context (whichever is
    less); the rolling window of :mod:`desktop.services.context_window`."""
    from desktop.engine.worker.protocol import PromptTooLong

    info = engine.load_info
    room = min(sampling.max_tokens, info.ctx_tokens // 4) if info is not None else 1
    sent, left_out = messages, 0
    while True:
        try:
            return ChatReply(ask(sent, room), left_out)
        except PromptTooLong:
            shorter = without_oldest_exchange(sent)
            if shorter is None:
                raise
            sent, left_out = shorter[0], left_out + shorter[1]


class SessionState(enum.Enum):
    EMPTY = "no model"
    LOADING = "loading"
    READY = "ready"
    GENERATING = "generating"
    CRASHED = "crashed"
    CLOSED = "closed"


class ChatSession(QObject):
    state_changed = Signal(object)  # SessionState
    load_progress = Signal(float)
    loaded = Signal(object)  # LoadInfo
    load_failed = Signal(object)  # exception
    token = Signal(str, str)  # owner, text
    reply_done = Signal(str, object, int)  # owner, ReplyStats, messages left out
    reply_failed = Signal(str, object)  # owner, exception
    crashed = Signal(str)
    unloaded = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = SessionState.EMPTY
        self.load_info: LoadInfo | None = None
        self.model_path: Path | None = None
        self.load_settings: LoadSettings | None = None
        self._engine: InferenceWorker | None = None
        self._call: ThreadTask[Any] | None = None  # a load or an unload
        #: The replies under way: whose (a pane's name), and the ticket that stops each.
        self._replies: dict[str, ReplyTicket] = {}

    def _set_state(self, state: SessionState) -> None:
        self.state = state
        self.state_changed.emit(state)

    def _require(self, *states: SessionState) -> None:
        if self.state not in states:
            allowed = ", ".join(s.value for s in states)
            raise RuntimeError(f"Cannot do that while {self.state.value} (needs: {allowed}).")

    def _engine_instance(self) -> InferenceWorker:
        if self._engine is None:
            from desktop.engine.worker import InferenceWorker

            self._engine = InferenceWorker()
        return self._engine

    @property
    def busy(self) -> bool:
        return bool(self._replies) or (self._call is not None and not self._call.done)

    # loading -----------------------------------------------------------------------------
    def load(self, path: Path, settings: LoadSettings | None) -> ThreadTask[LoadInfo]:
        self._require(SessionState.EMPTY, SessionState.READY, SessionState.CRASHED)
        if self.state is SessionState.CRASHED:
            self._discard_engine()
        engine = self._engine_instance()
        self.model_path, self.load_settings = path, settings
        self._set_state(SessionState.LOADING)

        def work(emit: Callable[[Progress], None]) -> LoadInfo:
            info = engine.load(path, settings, on_progress=emit)
            # Each reply asks whether its prompt opens the thinking, for each Thinking choice:
            # rendering the template to find out (compiling it first) stays off the GUI thread.
            for thinking in (None, True, False):
                info.chat_template.opens_thinking_with(thinking_options(thinking))
            return info

        worker = ThreadTask(work)
        worker.signals.yielded.connect(self._on_load_progress)
        worker.on_returned(self._on_loaded)
        worker.signals.errored.connect(self._on_load_failed)
        self._call = worker
        return worker.start()

    def unload(self) -> ThreadTask[None]:
        """Free the model's memory (the worker process stays up for the next load)."""
        self._require(SessionState.READY)
        engine = self._engine_instance()
        self._set_state(SessionState.LOADING)
        worker = ThreadTask(lambda _emit: engine.unload())
        worker.signals.finished.connect(self._on_unloaded)
        self._call = worker
        return worker.start()

    def _on_unloaded(self) -> None:
        self.load_info = None
        self._set_state(SessionState.EMPTY)
        self.unloaded.emit()

    def reload(self) -> ThreadTask[LoadInfo]:
        if self.model_path is None:
            raise RuntimeError("Nothing to reload: no model was loaded.")
        return self.load(self.model_path, self.load_settings)

    def _on_load_progress(self, event: Progress) -> None:
        self.load_progress.emit(event.fraction or 0.0)

    def _on_loaded(self, info: LoadInfo) -> None:
        self.load_info = info
        self._set_state(SessionState.READY)
        self.loaded.emit(info)

    def _on_load_failed(self, exc: BaseException) -> None:
        self.load_info = None
        if self._worker_died(exc):
            self._set_state(SessionState.CRASHED)
            self.crashed.emit(str(exc))
        else:
            self._set_state(SessionState.EMPTY)
        self.load_failed.emit(exc)

    # generating --------------------------------------------------------------------------
    @property
    def slots(self) -> int:
        """How many replies the loaded model writes at once (its load's parallel replies)."""
        info = self.load_info
        return info.parallel if info is not None else 1

    def replying(self, owner: str) -> bool:
        """``owner``'s reply is being written."""
        return owner in self._replies

    def can_reply(self, owner: str) -> bool:
        """A reply for ``owner`` can start now: the model is loaded, ``owner`` has none under
        way, and a slot is free (one reply at a time unless loaded with more)."""
        if self.state is SessionState.READY:
            return True
        return (
            self.state is SessionState.GENERATING
            and owner not in self._replies
            and len(self._replies) < self.slots
        )

    def streamed_tokens(self, owner: str) -> int:
        """Tokens of ``owner``'s current reply so far (text arrives in batches, not one per
        token); 0 when it has none."""
        ticket = self._replies.get(owner)
        return ticket.streamed_tokens if ticket is not None else 0

    def send(
        self,
        messages: list[dict[str, str]],
        sampling: SamplingSettings,
        *,
        owner: str,
        template_options: Mapping[str, Any] | None = None,
    ) -> ThreadTask[ChatReply]:
        """Answer ``messages`` with the chat template (rendered with ``template_options``,
        such as ``enable_thinking``). A conversation that leaves too little of
        the context for the reply (less than its token limit or a quarter of the context,
        whichever is less) is sent without its oldest exchanges
        (:mod:`desktop.services.context_window`); the reply says how many messages were left
        out."""
        return self._answer(messages, sampling, owner, as_text=False, options=template_options)

    def send_text(
        self, messages: list[dict[str, str]], sampling: SamplingSettings, *, owner: str
    ) -> ThreadTask[ChatReply]:
        """Continue the conversation's text as plain text (no chat template, see
        :func:`completion_prompt`): for base models. A text too long for the context loses its
        oldest exchanges, as in :meth:`send`."""
        return self._answer(messages, sampling, owner, as_text=True)

    def _answer(
        self,
        messages: list[dict[str, str]],
        sampling: SamplingSettings,
        owner: str,
        *,
        as_text: bool,
        options: Mapping[str, Any] | None = None,
    ) -> ThreadTask[ChatReply]:
        def work(
            engine: InferenceWorker, emit: Callable[[str], None], ticket: ReplyTicket
        ) -> ChatReply:
            def ask(sent: list[dict[str, str]], room: int) -> ReplyStats:
                if as_text:
                    prompt = completion_prompt(sent)
                    return engine.complete(
                        prompt, sampling, on_token=emit, ticket=ticket, reply_room=room
                    )
                return engine.chat(
                    sent,
                    sampling,
                    on_token=emit,
                    ticket=ticket,
                    reply_room=room,
                    template_options=options or {},
                )

            return _fit_to_context(engine, messages, sampling, ask)

        return self._reply(owner, work)

    def continue_reply(
        self,
        messages: list[dict[str, str]],
        partial: str,
        sampling: SamplingSettings,
        *,
        owner: str,
        template_options: Mapping[str, Any] | None = None,
    ) -> ThreadTask[ChatReply]:
        """Write on from ``partial``, the start of the assistant's reply to ``messages``.

        The prompt is the chat template's rendering of ``messages`` (ending where the reply
        begins) followed by ``partial``, so the model continues its own words; the template's
        end markers still end the reply."""

        def work(
            engine: InferenceWorker, emit: Callable[[str], None], ticket: ReplyTicket
        ) -> ChatReply:
            template = engine.load_info.chat_template if engine.load_info else None
            stops = template.stop_strings if template is not None else ()
            prompt = engine.format_chat(messages, (), template_options or {}) + partial
            return ChatReply(
                engine.complete(
                    prompt, sampling, on_token=emit, stop=stops, parse_special=True, ticket=ticket
                )
            )

        return self._reply(owner, work)

    def _reply(self, owner: str, call: ReplyCall) -> ThreadTask[ChatReply]:
        """Start ``owner``'s reply: ``call(engine, emit, ticket)`` on a pool thread."""
        if not self.can_reply(owner):
            self._require(SessionState.READY)  # says why
            raise RuntimeError(f"Cannot start a second reply for {owner} or past the free slots.")
        from desktop.engine.worker import ReplyTicket

        engine, ticket = self._engine_instance(), ReplyTicket()
        task = ThreadTask(lambda emit: call(engine, emit, ticket))
        task.signals.yielded.connect(lambda piece: self.token.emit(owner, piece))
        task.on_returned(lambda stats: self._on_reply_done(owner, stats))
        task.signals.errored.connect(lambda exc: self._on_reply_failed(owner, exc))
        self._replies[owner] = ticket
        self._set_state(SessionState.GENERATING)  # also when one runs: the panes follow
        return task.start()

    def stop(self, owner: str | None = None) -> None:
        """Ask ``owner``'s reply (None: every reply) to stop; it ends as a ``cancelled`` reply."""
        if self.state is not SessionState.GENERATING or self._engine is None:
            return
        if owner is None:
            self._engine.cancel()
        elif owner in self._replies:
            self._replies[owner].cancel()

    def _reply_ended(self, owner: str) -> None:
        self._replies.pop(owner, None)
        if not self._replies and self.state is SessionState.GENERATING:
            self._set_state(SessionState.READY)

    def _on_reply_done(self, owner: str, reply: ChatReply) -> None:
        self._reply_ended(owner)
        self.reply_done.emit(owner, reply.stats, reply.left_out)

    def _worker_died(self, exc: BaseException) -> bool:
        """A crash, or any failure after which the worker process is gone (killed while idle)."""
        engine = self._engine
        return isinstance(exc, WorkerCrashed) or (engine is not None and engine.pid is None)

    def _on_reply_failed(self, owner: str, exc: BaseException) -> None:
        if not self._worker_died(exc):
            self._reply_ended(owner)
        else:
            self._replies.pop(owner, None)
            if self.state is not SessionState.CRASHED:
                self._set_state(SessionState.CRASHED)
                self.crashed.emit(str(exc))
        self.reply_failed.emit(owner, exc)

    # memory and shutdown -------------------------------------------------------------------
    def stats(self) -> WorkerStats | None:
        """The worker's memory now (callable from any thread)."""
        return self._engine.stats() if self._engine is not None else None

    def _discard_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            with contextlib.suppress(Exception):  # a dead child only needs reaping
                engine.close()

    def close(self) -> None:
        """Stop generating, end the worker process and wait for the pending call."""
        if self.state is SessionState.CLOSED:
            return
        self.stop()
        if self.busy:
            self._discard_engine()  # terminates the child, which ends the blocking call
        self._discard_engine()
        self._set_state(SessionState.CLOSED)
