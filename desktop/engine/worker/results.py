"""What the worker reports back: about a loaded model, a reply, and its own memory use."""

from __future__ import annotations

import enum
from dataclasses import dataclass

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
    ctx_tokens: int
    gpu_layers: int
    flash_attention: bool
    kv_type: str
    chat_template: ChatTemplate
    load_seconds: float
    #: Sentences for the user about choices made for them (fallback template, clipped context …).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyStats:
    """One reply: its text and how fast it came."""

    text: str
    stop_reason: StopReason
    prompt_tokens: int
    generated_tokens: int
    time_to_first_token_seconds: float
    prompt_tokens_per_second: float
    #: Decode speed after the first token: (sampled tokens - 1) / time between first and last.
    generation_tokens_per_second: float
    total_seconds: float
    ram_bytes: int
    vram_bytes: int | None

    @property
    def cancelled(self) -> bool:
        return self.stop_reason is StopReason.CANCELLED


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerStats:
    """The worker child's memory right now (``pid`` None when no child is running)."""

    state: WorkerState
    pid: int | None
    ram_bytes: int | None
    vram_bytes: int | None
