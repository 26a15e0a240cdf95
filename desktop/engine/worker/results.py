"""What the worker reports back: about a loaded model, a reply, and its own memory use."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

from desktop.engine.worker.chat_format import ChatTemplate


class WorkerState(enum.Enum):
    """The life cycle of :class:`~desktop.engine.worker.client.InferenceWorker`."""

    IDLE = "idle"
    LOADING = "loading"
    READY = "ready"
    GENERATING = "generating"
    CRASHED = "crashed"
    CLOSED = "closed"


class StopReason(enum.Enum):
    EOS = "eos"
    MAX_TOKENS = "max_tokens"
    CANCELLED = "cancelled"
    CONTEXT_FULL = "context_full"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """Facts read from the GGUF by llama.cpp."""

    name: str
    architecture: str
    n_params: int
    file_type: str
    size_bytes: int
    n_layers: int
    ctx_train_tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadInfo:
    """The result of a load: what was actually used, which may differ from what was asked."""

    path: str
    model: ModelInfo
    #: Context of each slot (each of the ``parallel`` replies that can run at once).
    ctx_tokens: int
    gpu_layers: int
    flash_attention: bool
    kv_type: str
    chat_template: ChatTemplate
    load_seconds: float
    #: Sentences for the user about choices made for them (fallback template, clipped context …).
    notes: tuple[str, ...] = ()
    parallel: int = 1
    #: Names this llama.cpp version, model file and the settings that change its output, as
    #: OpenAI's ``system_fingerprint`` does: equal fingerprints and a seed repeat a reply.
    fingerprint: str = ""
    #: A model made for embeddings: it turns text into vectors and writes no replies.
    embedding_only: bool = False
    #: The weights are mapped from the file (llama.cpp's default), not read into memory.
    weights_mapped: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyTimings:
    """One reply: its text and how fast it came, as the child measures it."""

    text: str
    stop_reason: StopReason
    prompt_tokens: int
    generated_tokens: int
    time_to_first_token_seconds: float
    prompt_tokens_per_second: float
    #: Decode speed after the first token: (sampled tokens - 1) / time between first and last.
    generation_tokens_per_second: float
    total_seconds: float
    #: Prompt tokens whose keys and values were reused from the slot's cache (not evaluated).
    cached_prompt_tokens: int = 0

    @property
    def cancelled(self) -> bool:
        return self.stop_reason is StopReason.CANCELLED


@dataclass(frozen=True, slots=True)
class TokenProbability:
    """A token, the bytes it spells (a character can be split over tokens) and its
    log-probability under the model's raw distribution (the softmax of its logits)."""

    token: int
    piece: bytes
    logprob: float


@dataclass(frozen=True, slots=True)
class TokenLogprobs:
    """A generated token and the most likely tokens at its place, best first."""

    chosen: TokenProbability
    top: tuple[TokenProbability, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyStats(ReplyTimings):
    """One reply with the worker's memory after it, which only the parent can measure."""

    ram_bytes: int
    vram_bytes: int | None

    @classmethod
    def with_memory(
        cls, timings: ReplyTimings, *, ram_bytes: int, vram_bytes: int | None
    ) -> ReplyStats:
        measured = {field.name: getattr(timings, field.name) for field in fields(ReplyTimings)}
        return cls(**measured, ram_bytes=ram_bytes, vram_bytes=vram_bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerStats:
    """The worker child's memory right now (``pid`` None when no child is running)."""

    state: WorkerState
    pid: int | None
    ram_bytes: int | None
    vram_bytes: int | None
