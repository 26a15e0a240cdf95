"""``InferenceWorker``: the caller's handle on a model running in a child process.

A small state machine (``idle → loading → ready → generating → ready``, ``unload → idle``,
``crashed``, ``closed``). ``load``, ``chat`` and ``complete`` block and report through
callbacks, so the GUI calls them from a worker thread; ``cancel``, ``stats`` and ``state``
may be called from any thread. llama.cpp runs in the child, so a segfault, an abort or an
OOM kill there ends only the child: the blocked call raises ``WorkerCrashed`` (or
``ModelLoadError`` while loading) and the next ``load`` starts a fresh child.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

from converter.errors import Cancelled, ModelLoadError, QuantdeskError, WorkerCrashed
from converter.progress import Progress
from desktop.engine.worker import usage
from desktop.engine.worker.chat_format import NO_TEMPLATE_OPTIONS
from desktop.engine.worker.process import ChildDied, WorkerProcess
from desktop.engine.worker.protocol import (
    CancelReply,
    DetokenizeRequest,
    Embedded,
    EmbedRequest,
    Failed,
    Finished,
    GenerateRequest,
    Loaded,
    LoadProgress,
    LoadRequest,
    ShutdownRequest,
    StreamedText,
    TokenizeRequest,
    TokenText,
    Unloaded,
    UnloadRequest,
    error_from,
)
from desktop.engine.worker.reply_format import FREE_TEXT, ReplyFormat
from desktop.engine.worker.reply_ticket import ReplyTicket
from desktop.engine.worker.results import (
    LoadInfo,
    ReplyStats,
    ReplyTimings,
    TokenLogprobs,
    WorkerState,
    WorkerStats,
)
from desktop.engine.worker.settings import LoadSettings, SamplingSettings

#: Gets the log-probabilities of the next tokens of a reply (see ``InferenceWorker.chat``).
OnLogprobs = Callable[[tuple[TokenLogprobs, ...]], None]


def _send_quietly(child: WorkerProcess, request: object) -> None:
    """Send ``request`` if the child still listens (a dead one fails the reply anyway)."""
    with contextlib.suppress(ChildDied):
        child.send(request)


class WorkerStateError(QuantdeskError):
    """A worker method was called in a state that does not allow it (chat before load …)."""


_REFUSALS: MappingProxyType[WorkerState, str] = MappingProxyType(
    {
        WorkerState.IDLE: "No model is loaded; load one first.",
        WorkerState.LOADING: "A model is still loading; wait for it or cancel it first.",
        WorkerState.READY: "A model is already loaded.",
        WorkerState.GENERATING: "The model is still answering; wait for it or cancel it first.",
        WorkerState.CRASHED: "The model worker crashed; load the model again to continue.",
        WorkerState.CLOSED: "This worker has been closed; create a new one.",
    }
)


class InferenceWorker:
    """One model in one long-lived child process. Use as a context manager, or call close()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = WorkerState.IDLE
        self._child: WorkerProcess | None = None
        self._info: LoadInfo | None = None
        self._replies = 0  # under way now
        self._last_request_id = 0

    # --- state ----------------------------------------------------------------------------

    @property
    def state(self) -> WorkerState:
        return self._state

    @property
    def load_info(self) -> LoadInfo | None:
        """What the current model is, or None when none is loaded."""
        return self._info if self._state in (WorkerState.READY, WorkerState.GENERATING) else None

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None else None

    def _enter(self, allowed: tuple[WorkerState, ...], busy: WorkerState) -> WorkerState:
        with self._lock:
            previous = self._state
            if previous not in allowed:
                raise WorkerStateError(_REFUSALS[previous])
            self._state = busy
            return previous

    def _leave(self, state: WorkerState) -> None:
        with self._lock:
            if self._state is not WorkerState.CLOSED:
                self._state = state

    # --- child process ----------------------------------------------------------------------

    def _ensure_child(self) -> WorkerProcess:
        if self._child is None or not self._child.alive:
            self._discard_child()
            self._child = WorkerProcess()
        return self._child

    def _discard_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop()

    def _crashed(self, child: WorkerProcess | None, error: QuantdeskError) -> QuantdeskError:
        """Record a dead child; return the error to raise (a closed worker says so instead).

        Every reply under way reports the same death; only the first changes the state (a
        later one must not discard a child loaded since)."""
        with self._lock:
            current = self._child is child
            if current:
                self._child = None
                self._info = None
            if self._state is WorkerState.CLOSED:
                error = WorkerStateError("The worker was closed while it was busy.")
            elif current:
                self._state = WorkerState.CRASHED
        if current and child is not None:
            child.stop()
        return error

    # --- operations ---------------------------------------------------------------------------

    def load(
        self,
        path: Path | str,
        settings: LoadSettings | None = None,
        *,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> LoadInfo:
        """Open a GGUF model (replacing any loaded one); blocks until it is ready.

        ``on_progress`` gets the share of the file read, as a ``"loading"`` stage in percent.
        """
        settings = settings or LoadSettings()
        self._enter((WorkerState.IDLE, WorkerState.READY, WorkerState.CRASHED), WorkerState.LOADING)
        self._info = None
        name = Path(path).name
        child = None
        try:
            child = self._ensure_child()
            child.request_cancel(False)
            child.send(LoadRequest(str(path), settings))
            while True:
                event = child.receive()
                if isinstance(event, LoadProgress):
                    if on_progress is not None:
                        on_progress(Progress("loading", round(event.fraction * 100), 100, "%"))
                elif isinstance(event, Loaded):
                    if child.cancel_requested:  # cancelled as the load finished: honour it
                        self._unload_in_child(child)
                        raise Cancelled("Loading the model")
                    self._info = event.info
                    self._leave(WorkerState.READY)
                    return event.info
                elif isinstance(event, Failed):
                    self._leave(WorkerState.IDLE)
                    raise error_from(event, "Loading the model")
        except ChildDied:
            how = child.exit_description() if child is not None else "stopped"
            raise self._crashed(
                child,
                ModelLoadError(
                    f"llama.cpp {how} while loading {name}: the file is probably corrupt or "
                    "truncated, or too big for this machine's memory. Check the file and try again."
                ),
            ) from None
        except BaseException:
            if self._state is WorkerState.LOADING:
                self._leave(WorkerState.IDLE)
            raise

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        sampling: SamplingSettings | None = None,
        *,
        on_token: Callable[[str], None],
        tools: Sequence[Mapping[str, Any]] = (),
        stop: Sequence[str] = (),
        reply_format: ReplyFormat = FREE_TEXT,
        logprobs: int | None = None,
        on_logprobs: OnLogprobs | None = None,
        ticket: ReplyTicket | None = None,
        reply_room: int = 1,
        template_options: Mapping[str, Any] = NO_TEMPLATE_OPTIONS,
    ) -> ReplyStats:
        """Answer the conversation with the model's chat template, streaming text pieces;
        ``tools`` (OpenAI's function definitions) go to the template for the model to call,
        and ``template_options`` (such as ``enable_thinking``) are more names it reads.

        The reply ends before the first of ``stop`` (or of the template's own end markers).
        ``reply_format`` binds it to a grammar or JSON; with ``logprobs`` (the number of
        alternatives, 0 or more) ``on_logprobs`` gets the figures of each token, just before
        the text they complete. A grammar or schema that cannot be used raises
        :class:`InvalidReplyFormat` before any token is generated. ``ticket`` stops this
        reply alone and counts its tokens (:meth:`cancel` stops every reply). A conversation
        that leaves fewer than ``reply_room`` tokens of the context for the reply raises
        :class:`~desktop.engine.worker.protocol.PromptTooLong` before any work.
        """
        info = self._require_model()
        if not messages:
            raise WorkerStateError("There is no message to answer.")
        template = info.chat_template
        request = GenerateRequest(
            prompt=template.render(messages, tools, template_options),
            sampling=sampling or SamplingSettings(),
            parse_special=True,
            stop_strings=(*template.stop_strings, *stop),
            reply_format=reply_format,
            logprobs=logprobs,
            reply_room=reply_room,
        )
        return self._generate(request, on_token, on_logprobs, ticket)

    def format_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] = (),
        template_options: Mapping[str, Any] = NO_TEMPLATE_OPTIONS,
    ) -> str:
        """The exact prompt text :meth:`chat` would send for ``messages`` (and ``tools``,
        ``template_options``)."""
        return self._require_model().chat_template.render(messages, tools, template_options)

    def complete(
        self,
        prompt: str,
        sampling: SamplingSettings | None = None,
        *,
        on_token: Callable[[str], None],
        stop: Sequence[str] = (),
        parse_special: bool = False,
        reply_format: ReplyFormat = FREE_TEXT,
        logprobs: int | None = None,
        on_logprobs: OnLogprobs | None = None,
        ticket: ReplyTicket | None = None,
        reply_room: int = 1,
    ) -> ReplyStats:
        """Continue raw text (no chat template), ending before the first of ``stop``.

        Special-token text (``<start_of_turn>``) stays plain text unless ``parse_special``
        (a hand-written chat prompt, as API clients send to ``/v1/completions``). The other
        options are :meth:`chat`'s."""
        self._require_model()
        if not prompt:
            raise WorkerStateError("The prompt is empty: there is nothing to continue.")
        request = GenerateRequest(
            prompt=prompt,
            sampling=sampling or SamplingSettings(),
            parse_special=parse_special,
            stop_strings=tuple(stop),
            reply_format=reply_format,
            logprobs=logprobs,
            reply_room=reply_room,
        )
        return self._generate(request, on_token, on_logprobs, ticket)

    def tokenize(
        self, text: str, *, add_special: bool = True, parse_special: bool = False
    ) -> tuple[list[int], list[bytes]]:
        """The loaded model's tokens for ``text`` and the bytes each spells (any thread, also
        while replies run). ``add_special``: BOS where the model wants one; ``parse_special``:
        special-token text becomes special tokens."""
        self._require_model()
        answer = self._ask(TokenizeRequest(text, add_special, parse_special), "Tokenizing")
        assert isinstance(answer, TokenText)
        return list(answer.tokens), list(answer.pieces)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text ``tokens`` spell (special tokens written out); an id outside the
        vocabulary raises :class:`~desktop.engine.worker.token_text.UnknownToken`."""
        self._require_model()
        answer = self._ask(DetokenizeRequest(tuple(tokens)), "Detokenizing")
        assert isinstance(answer, TokenText)
        return answer.text

    def embed(self, texts: Sequence[str]) -> tuple[list[bytes], int]:
        """One unit-length vector per text (little-endian float32 bytes) and the tokens read
        in all (any thread, also while replies run). A text longer than the embedding context
        raises :class:`~desktop.engine.worker.embedding.TextTooLong`."""
        self._require_model()
        answer = self._ask(EmbedRequest(tuple(texts)), "Embedding")
        assert isinstance(answer, Embedded)
        return list(answer.vectors), answer.tokens

    def _ask(
        self, request: TokenizeRequest | DetokenizeRequest | EmbedRequest, what: str
    ) -> TokenText | Embedded:
        """Send one request that gets one answer, and wait for it."""
        with self._lock:
            self._last_request_id += 1
            request_id = self._last_request_id
            child = self._child
        if child is None:
            raise WorkerStateError(_REFUSALS[WorkerState.IDLE])
        child.open_channel(request_id)
        try:
            child.send(dataclasses.replace(request, request_id=request_id))
            event = child.receive(request_id)
        except ChildDied:
            raise self._crashed(
                child, WorkerCrashed(f"The model worker {child.exit_description()}.")
            ) from None
        finally:
            child.close_channel(request_id)
        if isinstance(event, Failed):
            raise error_from(event, what)
        assert isinstance(event, (TokenText, Embedded))
        return event

    def _require_model(self) -> LoadInfo:
        state, info = self._state, self._info
        if state not in (WorkerState.READY, WorkerState.GENERATING) or info is None:
            raise WorkerStateError(
                _REFUSALS[state if state is not WorkerState.READY else WorkerState.IDLE]
            )
        return info

    def _generate(
        self,
        request: GenerateRequest,
        on_token: Callable[[str], None],
        on_logprobs: OnLogprobs | None = None,
        ticket: ReplyTicket | None = None,
    ) -> ReplyStats:
        """Send one reply's request and pass its text on; several may run at once (each in
        its caller's thread), up to the loaded number of slots, the rest waiting in the child."""
        with self._lock:
            if self._state not in (WorkerState.READY, WorkerState.GENERATING):
                raise WorkerStateError(_REFUSALS[self._state])
            first = self._state is WorkerState.READY
            self._state = WorkerState.GENERATING
            self._replies += 1
            self._last_request_id += 1
            request_id = self._last_request_id
        child = self._child
        assert child is not None  # READY means a live child holds the model
        callback_error: BaseException | None = None
        child.open_channel(request_id)
        try:
            if first:
                child.request_cancel(False)
            child.send(dataclasses.replace(request, request_id=request_id))
            if ticket is not None:
                ticket.bind(lambda: _send_quietly(child, CancelReply(request_id)))
            while True:
                event = child.receive(request_id)
                if isinstance(event, StreamedText):
                    if ticket is not None:
                        ticket.streamed_tokens += event.tokens
                    if callback_error is None:
                        try:
                            if event.logprobs and on_logprobs is not None:
                                on_logprobs(event.logprobs)
                            if event.text:
                                on_token(event.text)
                        except BaseException as exc:  # stop the reply, keep the pipe in step
                            callback_error = exc
                            child.send(CancelReply(request_id))
                elif isinstance(event, Finished):
                    if callback_error is not None:
                        raise callback_error
                    return self._with_memory(event.timings)
                elif isinstance(event, Failed):
                    raise error_from(event, "Generating a reply")
        except ChildDied:
            how = child.exit_description()
            raise self._crashed(
                child,
                WorkerCrashed(
                    f"The model worker {how} while answering, so the reply was cut off. "
                    "This can mean too little memory or a llama.cpp bug with this model; "
                    "load the model again to continue."
                ),
            ) from None
        finally:
            if ticket is not None:
                ticket.release()
            child.close_channel(request_id)
            with self._lock:
                self._replies -= 1
                if self._replies == 0 and self._state is WorkerState.GENERATING:
                    self._state = WorkerState.READY

    def _with_memory(self, timings: ReplyTimings) -> ReplyStats:
        stats = self.stats()
        return ReplyStats.with_memory(
            timings, ram_bytes=stats.ram_bytes or 0, vram_bytes=stats.vram_bytes
        )

    def cancel(self) -> None:
        """Stop the current load or reply soon (any thread); a reply keeps what it has so far."""
        child = self._child
        if child is not None and self._state in (WorkerState.LOADING, WorkerState.GENERATING):
            child.request_cancel()

    def unload(self) -> None:
        """Free the model; the child stays up, so the next load starts faster."""
        if self._state in (WorkerState.IDLE, WorkerState.CRASHED):
            return
        self._enter((WorkerState.READY,), WorkerState.LOADING)
        self._info = None
        try:
            if self._child is not None:
                self._unload_in_child(self._child)
        except ChildDied:
            self._discard_child()  # the model is gone either way
        finally:
            self._leave(WorkerState.IDLE)

    @staticmethod
    def _unload_in_child(child: WorkerProcess) -> None:
        child.send(UnloadRequest())
        while not isinstance(child.receive(), Unloaded):
            pass

    def stats(self) -> WorkerStats:
        """The child's RAM, and its VRAM when layers are offloaded to a GPU."""
        pid = self.pid
        if pid is None:
            return WorkerStats(state=self._state, pid=None, ram_bytes=None, vram_bytes=None)
        info = self._info
        on_gpu = info is not None and info.gpu_layers != 0
        return WorkerStats(
            state=self._state,
            pid=pid,
            ram_bytes=usage.ram_bytes(pid),
            vram_bytes=usage.vram_bytes(pid) if on_gpu else None,
        )

    def close(self) -> None:
        """Stop the child (interrupting any load or reply, whose caller then gets an error)."""
        with self._lock:
            if self._state is WorkerState.CLOSED:
                return
            was_busy = self._state in (WorkerState.LOADING, WorkerState.GENERATING)
            self._state = WorkerState.CLOSED
        self._info = None
        child = self._child
        if child is None:
            return
        if was_busy:  # the busy caller's thread sees the pipe close, then discards the child
            child.request_cancel()
            child.stop(close_pipe=False)
        else:
            self._child = None
            child.shutdown(ShutdownRequest())

    def __enter__(self) -> InferenceWorker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
