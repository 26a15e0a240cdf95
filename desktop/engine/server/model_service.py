"""``ModelService``: the served model, as the HTTP layer sees it.

It owns the :class:`InferenceWorker` and its life cycle (``loading → ready``, ``reloading``
after a crash, ``stopping``), turns worker errors into API errors and answers replies, as
many at once as the worker has slots (more wait in the worker). A crash fails the replies
under way at once and starts loading the model again in the background; requests that
arrive meanwhile wait for that load.

With a catalog of models (just-in-time loading, as LM Studio's server offers), a request
whose ``model`` names another model of the catalog has that model loaded in place of the
current one: the switch waits until the replies under way have ended, requests that come
meanwhile wait for it, and a model that cannot be loaded leaves the previous one serving.
Any other name means the loaded model (clients send their own defaults).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from converter.errors import QuantdeskError, WorkerCrashed
from converter.gguf_shards import model_name
from converter.progress import Progress
from desktop.engine.reasoning import ReasoningSplitter
from desktop.engine.server.api_errors import ApiError, ClientGone, bad_request, unavailable
from desktop.engine.server.embedding_request import EmbeddingRequest
from desktop.engine.server.formatting import FINISH_REASONS
from desktop.engine.server.parsing import ReplyKind, ReplyRequest
from desktop.engine.server.prompted_tools import PROMPTED_SYNTAX, prompted_messages
from desktop.engine.server.tool_calls import (
    ToolCall,
    ToolCallReader,
    forced_call_format,
    syntax_of,
)
from desktop.engine.worker import (
    InferenceWorker,
    InvalidReplyFormat,
    LoadInfo,
    LoadSettings,
    ReplyStats,
    TokenLogprobs,
    UnknownToken,
    WorkerState,
    WorkerStateError,
)
from desktop.engine.worker.chat_format import ChatTemplateError
from desktop.engine.worker.embedding import EmbeddingModelOnly, TextTooLong
from desktop.engine.worker.protocol import PromptTooLong


@dataclass(frozen=True, slots=True)
class TextPiece:
    """Reply text as it comes, with the log-probabilities of the tokens it completes."""

    text: str
    logprobs: tuple[TokenLogprobs, ...] = ()
    #: Thinking, not answer (only for requests that asked for it apart: ``split_reasoning``).
    reasoning: bool = False


@dataclass(frozen=True, slots=True)
class ReplyEnd:
    """How a reply ended: OpenAI's finish reason, the worker's figures, the
    log-probabilities of tokens that no text followed (a stop string cut mid-token), and the
    tool calls the reply made."""

    finish: str
    stats: ReplyStats
    logprobs: tuple[TokenLogprobs, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()


#: The models a request may name, by id (for example the app's library, by file name).
ModelCatalog = Callable[[], Mapping[str, Path]]


def modified_time(path: Path) -> int:
    """A model's ``created`` in the API: its file's modification time (0 if it is gone)."""
    try:
        return int(path.stat().st_mtime)
    except OSError:
        return 0


class ModelState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    RELOADING = "reloading"
    FAILED = "failed"  # a reload failed: the next request tries again
    STOPPING = "stopping"


class ModelService:
    """One model in one worker, shared by every request."""

    def __init__(
        self,
        model_path: Path,
        load_settings: LoadSettings,
        *,
        log: Callable[[str], None],
        model_id: str | None = None,
        catalog: ModelCatalog | None = None,
        on_switch: Callable[[Path], None] | None = None,
    ) -> None:
        """``catalog``: the models a request may name to have them loaded (None: only the
        one given is served); ``on_switch`` hears of each model loaded that way (on a
        request's thread)."""
        self.model_path = model_path
        self.model_id = model_id or model_name(model_path)
        self.created = modified_time(model_path)
        self._catalog = catalog
        self._on_switch = on_switch
        self._turn = threading.Condition()
        self._active = 0  # replies under way on the loaded model
        self._switching = False  # a request is changing the model: others wait
        self._load_settings = load_settings
        self._log = log
        self._worker = InferenceWorker()
        self._info: LoadInfo | None = None
        self.state = ModelState.LOADING
        self._load_lock = threading.Lock()
        self._loaded = threading.Event()

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid

    @property
    def info(self) -> LoadInfo | None:
        return self._info

    @property
    def fingerprint(self) -> str:
        """OpenAI's ``system_fingerprint`` for replies of the loaded model."""
        return self._info.fingerprint if self._info is not None else ""

    @property
    def default_max_tokens(self) -> int:
        """Without ``max_tokens`` a reply may run until its context is full, as with OpenAI."""
        return self._info.ctx_tokens if self._info is not None else self._load_settings.ctx_tokens

    def load(self, on_progress: Callable[[Progress], None] | None = None) -> LoadInfo:
        """The first load (blocking); requests meanwhile get 503."""
        with self._load_lock:
            self._info = self._worker.load(
                self.model_path, self._load_settings, on_progress=on_progress
            )
            self.state = ModelState.READY
            self._loaded.set()
            return self._info

    def close(self) -> None:
        """Stop: replies under way end at once with an error (their streams say so)."""
        self.state = ModelState.STOPPING
        self._loaded.set()  # wake requests waiting for a reload: they get 503
        self._worker.close()

    # --- replies (called from request threads) ------------------------------------------------

    def reply(
        self,
        request: ReplyRequest,
        *,
        send: Callable[[TextPiece], None],
        client_gone: Callable[[], bool],
    ) -> ReplyEnd:
        """Generate one reply, passing text to ``send`` as it comes.

        Returns how it ended; raises ClientGone when the client left (its generation is
        cancelled) and ApiError for everything else.
        """
        self._wait_for_model()
        with self._serving(self._named_model(request.model)):
            self._wait_for_model()
            if client_gone():
                raise ClientGone
            request, calls = self._with_tools(request)
            thinking = self._reasoning_splitter(request)
            pending: list[TokenLogprobs] = []

            def answer(piece: str) -> None:
                if calls is not None:
                    piece = calls.push(piece)
                if piece:
                    send(TextPiece(piece, tuple(pending)))
                    pending.clear()

            def on_token(piece: str) -> None:
                if client_gone():
                    raise ClientGone
                if thinking is not None:
                    thought, piece = thinking.push(piece)
                    if thought:
                        send(TextPiece(thought, tuple(pending), reasoning=True))
                        pending.clear()
                answer(piece)

            stats = self._generate(request, on_token, pending.extend)
            finish = FINISH_REASONS[stats.stop_reason]
            if thinking is not None:
                thought, rest = thinking.finish()
                if thought:
                    send(TextPiece(thought, (), reasoning=True))
                answer(rest)
            if calls is None:
                return ReplyEnd(finish, stats, tuple(pending))
            rest, made = calls.finish()
            if rest:
                send(TextPiece(rest, ()))
            return ReplyEnd("tool_calls" if made else finish, stats, tuple(pending), made)

    def _reasoning_splitter(self, request: ReplyRequest) -> ReasoningSplitter | None:
        """A splitter of thinking from answer, when the request wants them apart and the
        model's template is a reasoning model's."""
        template = self._info.chat_template if self._info is not None else None
        if not request.split_reasoning or template is None or not template.thinks:
            return None
        return ReasoningSplitter(opened=template.opens_thinking_with(request.template_options))

    def _with_tools(self, request: ReplyRequest) -> tuple[ReplyRequest, ToolCallReader | None]:
        """The request as the worker takes it when the model is shown tools (bound to one
        call when ``tool_choice`` requires one), and the reader of its calls. A model whose
        chat template has no place for tools is told of them in the system message
        (``prompted_tools``)."""
        if not request.tool_use.active:
            return request, None
        template = self._info.chat_template if self._info is not None else None
        if template is not None and template.takes_tools:
            syntax = syntax_of(template.template)
        else:
            syntax = PROMPTED_SYNTAX
            messages = prompted_messages(request.messages, request.tool_use.tools)
            request = replace(request, messages=messages)
        if request.tool_use.mode == "required":
            forced = forced_call_format(syntax, request.tool_use.tools, request.tool_use.only)
            request = replace(request, reply_format=forced, format_param="tool_choice")
        names = [tool["function"]["name"] for tool in request.tool_use.tools]
        return request, ToolCallReader(syntax, names)

    # --- tokens (llama-server's /tokenize and /detokenize) --------------------------------

    def tokenize(
        self, text: str, *, add_special: bool, parse_special: bool
    ) -> tuple[list[int], list[bytes]]:
        """The loaded model's tokens for ``text`` and the bytes each spells."""
        self._wait_for_model()
        with self._worker_errors():
            return self._worker.tokenize(text, add_special=add_special, parse_special=parse_special)

    def count_chat_tokens(self, request: ReplyRequest) -> int:
        """The tokens of the prompt a chat request would send (its tools included)."""
        self._wait_for_model()
        request, _calls = self._with_tools(request)
        tools = request.tool_use.tools if request.tool_use.active else ()
        with self._worker_errors():
            try:
                prompt = self._worker.format_chat(request.messages, tools, request.template_options)
            except ChatTemplateError as exc:
                raise bad_request(str(exc), "chat_template_error", "messages") from None
            tokens, _pieces = self._worker.tokenize(prompt, add_special=True, parse_special=True)
        return len(tokens)

    def embed(self, request: EmbeddingRequest) -> tuple[list[bytes], int]:
        """The loaded model's unit-length vector for each text, and the tokens read."""
        self._wait_for_model()
        with self._worker_errors():
            try:
                vectors, tokens = self._worker.embed(request.texts)
            except TextTooLong as exc:
                raise ApiError(
                    400, str(exc), code="context_length_exceeded", param="input"
                ) from None
        size = len(vectors[0]) // 4
        if request.dimensions not in (None, size):
            raise bad_request(
                f"'dimensions' is {request.dimensions}; {self.model_id}'s embeddings have "
                f"{size} and cannot be cut short.",
                param="dimensions",
            )
        return vectors, tokens

    def detokenize(self, tokens: tuple[int, ...]) -> str:
        self._wait_for_model()
        with self._worker_errors():
            try:
                return self._worker.detokenize(tokens)
            except UnknownToken as exc:
                raise bad_request(str(exc), "invalid_token", "tokens") from None

    @contextmanager
    def _worker_errors(self) -> Iterator[None]:
        """A worker that refuses (closed by stop(), or crashed by another request) or crashes,
        as the API says it; a crash also starts loading the model again."""
        try:
            yield
        except WorkerStateError as exc:
            if self.state is ModelState.STOPPING:
                raise unavailable("The server is shutting down.") from None
            raise unavailable(str(exc)) from None
        except WorkerCrashed as exc:
            self._reload_in_background()
            raise ApiError(500, str(exc), kind="server_error", code="worker_crashed") from None

    # --- the models a request may name ----------------------------------------------------

    def models(self) -> list[tuple[str, int]]:
        """``(id, created)`` of the loaded model, then of the catalog's others."""
        loaded, *others = self.model_paths()
        return [(loaded[0], self.created), *((i, modified_time(path)) for i, path in others)]

    def model_paths(self) -> list[tuple[str, Path]]:
        """``(id, file)`` of the loaded model, then of the catalog's others."""
        listed = [(self.model_id, self.model_path)]
        if self._catalog is not None:
            for model_id, path in sorted(self._catalog().items()):
                if model_id != self.model_id and not self._is_loaded(path):
                    listed.append((model_id, path))
        return listed

    def _is_loaded(self, path: Path) -> bool:
        return path.resolve() == self.model_path.resolve()

    def _named_model(self, name: str | None) -> Path | None:
        """The catalog's file that ``name`` asks for, when it is not the loaded one."""
        if self._catalog is None or name is None or name == self.model_id:
            return None
        path = self._catalog().get(name)
        return None if path is None or self._is_loaded(path) else path

    @contextmanager
    def _serving(self, wanted: Path | None) -> Iterator[None]:
        """Count a reply as under way on the loaded model, loading ``wanted`` first (once the
        replies under way have ended) when it names another model."""
        switching = False
        with self._turn:
            while self._switching:
                self._turn.wait()
            if wanted is not None and not self._is_loaded(wanted):
                self._switching = switching = True
                while self._active:
                    self._turn.wait()
        if switching and wanted is not None:
            try:
                self._switch_to(wanted)
            finally:
                with self._turn:
                    self._switching = False
                    self._turn.notify_all()
        with self._turn:
            self._active += 1
        try:
            yield
        finally:
            with self._turn:
                self._active -= 1
                self._turn.notify_all()

    def _switch_to(self, path: Path) -> None:
        """Load ``path`` in place of the current model; if it fails, load the current one back
        and raise an ApiError saying why."""
        previous = self.model_path
        self._log(f"loading {path.name}: a request named it")
        with self._load_lock:
            try:
                self._info = self._worker.load(path, self._load_settings)
            except QuantdeskError as exc:
                self._log(f"{path.name} could not be loaded ({exc}); {previous.name} is back")
                try:
                    self._info = self._worker.load(previous, self._load_settings)
                except QuantdeskError:
                    self.state = ModelState.FAILED
                raise ApiError(
                    500,
                    f"The model {model_name(path)!r} could not be loaded: {exc}",
                    kind="server_error",
                    code="model_load_failed",
                    param="model",
                ) from None
            self.model_path, self.model_id = path, model_name(path)
            self.created = modified_time(path)
            self.state = ModelState.READY
        if self._on_switch is not None:
            self._on_switch(path)

    def _wait_for_model(self) -> None:
        if self.state is ModelState.LOADING:
            raise unavailable("The model is still loading; try again in a moment.", "loading")
        if self.state is ModelState.RELOADING:
            self._loaded.wait()
        if self.state is ModelState.FAILED:
            self._reload()
        if self.state is ModelState.STOPPING:
            raise unavailable("The server is shutting down.")
        if self.state is not ModelState.READY:
            raise unavailable(
                "The model could not be loaded again after a crash.", "model_unavailable"
            )

    def _generate(
        self,
        request: ReplyRequest,
        on_token: Callable[[str], None],
        on_logprobs: Callable[[tuple[TokenLogprobs, ...]], None],
    ) -> ReplyStats:
        with self._worker_errors():
            try:
                if request.kind is ReplyKind.CHAT:
                    return self._worker.chat(
                        request.messages,
                        request.sampling,
                        tools=request.tool_use.tools if request.tool_use.active else (),
                        on_token=on_token,
                        stop=request.stop,
                        reply_format=request.reply_format,
                        logprobs=request.logprobs,
                        on_logprobs=on_logprobs,
                        template_options=request.template_options,
                    )
                return self._worker.complete(
                    request.prompt,
                    request.sampling,
                    on_token=on_token,
                    stop=request.stop,
                    parse_special=True,
                    reply_format=request.reply_format,
                    logprobs=request.logprobs,
                    on_logprobs=on_logprobs,
                )
            except InvalidReplyFormat as exc:
                raise bad_request(str(exc), "invalid_grammar", request.format_param) from None
            except UnknownToken as exc:
                raise bad_request(str(exc), "invalid_logit_bias", "logit_bias") from None
            except PromptTooLong as exc:
                raise ApiError(400, str(exc), code="context_length_exceeded") from None
            except ChatTemplateError as exc:
                raise bad_request(str(exc), "chat_template_error", "messages") from None
            except EmbeddingModelOnly as exc:
                raise bad_request(str(exc), "model_cannot_generate", "model") from None

    def _reload_in_background(self) -> None:
        """After a crash: load again while the error goes out (each crashed reply calls this;
        the first one starts the load)."""
        with self._load_lock:
            if self.state is not ModelState.READY or self._worker.state is not WorkerState.CRASHED:
                return
            self.state = ModelState.RELOADING
            self._loaded.clear()
        threading.Thread(target=self._reload, name="quantdesk-reload", daemon=True).start()

    def _reload(self) -> None:
        with self._load_lock:
            try:
                self._info = self._worker.load(self.model_path, self._load_settings)
                if self.state in (ModelState.RELOADING, ModelState.FAILED):
                    self.state = ModelState.READY
                self._log(f"reloaded {self.model_path.name}")
            except QuantdeskError as exc:
                if self.state in (ModelState.RELOADING, ModelState.FAILED):
                    self.state = ModelState.FAILED
                self._log(f"The model could not be loaded again after a crash: {exc}")
            finally:
                self._loaded.set()
