"""Load settings remembered per model file, as LM Studio's per-model defaults.

A person who loads a model with a longer context, its layers on the GPU or a quantized KV cache
gets the same settings the next time that file is loaded, whatever the app-wide defaults say.
They are kept in one JSON file in the config folder, keyed by the model file's full path,
and written whole under a temporary name (a crash never leaves half a file). A damaged file
or a value of the wrong type counts as "nothing remembered", never as an error.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from converter.paths import config_dir
from converter.storage import atomic_output
from desktop.engine.flash_attention import DEFAULT_FLASH_ATTENTION
from desktop.services.app_settings import KV_TYPES

DEFAULTS_NAME = "model_load_defaults.json"
MAX_CTX_TOKENS = 1 << 20
#: Replies the chat can have written at once (its two panes, with room to spare).
MAX_CHAT_PARALLEL = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelLoadDefaults:
    # context
    ctx_tokens: int = 4096  # 0: the context the model was trained with
    kv_type: str = "f16"
    # placement
    gpu_layers: int | None = None  # None: the fit planner decides; -1: every layer
    threads: int = 0  # 0: llama.cpp chooses
    # attention
    flash_attention: bool = DEFAULT_FLASH_ATTENTION  # off only with the f16 KV cache
    # replies written at once, each with its own context (the split view's two panes)
    parallel: int = 1
    # the weights: None lets the app choose; True reads the file into memory; False maps it
    read_weights_in: bool | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.ctx_tokens <= MAX_CTX_TOKENS:
            raise ValueError(f"The context must be 0 to {MAX_CTX_TOKENS} tokens.")
        if self.kv_type not in KV_TYPES:
            raise ValueError(f"The KV cache type must be one of {', '.join(KV_TYPES)}.")
        if self.gpu_layers is not None and self.gpu_layers < -1:
            raise ValueError("GPU layers must be a count, -1 for all, or automatic.")
        if self.threads < 0:
            raise ValueError("Threads must be 0 (automatic) or more.")
        if not self.flash_attention and self.kv_type != "f16":
            raise ValueError(f"A {self.kv_type} KV cache needs flash attention on.")
        if not 1 <= self.parallel <= MAX_CHAT_PARALLEL:
            raise ValueError(f"Replies at once must be 1 to {MAX_CHAT_PARALLEL}.")
        if self.read_weights_in is not None and not isinstance(self.read_weights_in, bool):
            raise ValueError("Reading the weights in must be yes, no or automatic.")

    def describe(self) -> str:
        """In words, for the model bar: "context 8192 tokens, KV cache q8_0, all layers on
        the GPU, 4 threads, 2 replies at once, file read into memory"."""
        context = "trained context" if self.ctx_tokens == 0 else f"context {self.ctx_tokens}"
        layers = {None: "GPU layers automatic", -1: "all layers on the GPU", 0: "CPU only"}.get(
            self.gpu_layers, f"{self.gpu_layers} layers on the GPU"
        )
        threads = "" if self.threads == 0 else f", {self.threads} threads"
        flash = "" if self.flash_attention else ", flash attention off"
        parallel = "" if self.parallel == 1 else f", {self.parallel} replies at once"
        weights = {None: "", True: ", file read into memory", False: ", file mapped"}[
            self.read_weights_in
        ]
        return f"{context}, KV cache {self.kv_type}, {layers}{threads}{flash}{parallel}{weights}"


class ModelDefaultsStore:
    """The remembered load settings of every model file that has some."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / DEFAULTS_NAME

    def get(self, model: str | Path) -> ModelLoadDefaults | None:
        entry = self._read().get(_key(model))
        if not isinstance(entry, dict):
            return None
        try:
            return ModelLoadDefaults(**entry)
        except (TypeError, ValueError):  # an unknown field or a bad value: nothing remembered
            return None

    def remember(self, model: str | Path, defaults: ModelLoadDefaults) -> None:
        entries = self._read()
        entries[_key(model)] = asdict(defaults)
        self._write(entries)

    def forget(self, model: str | Path) -> None:
        entries = self._read()
        if entries.pop(_key(model), None) is not None:
            self._write(entries)

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        models = data.get("models") if isinstance(data, dict) else None
        return dict(models) if isinstance(models, dict) else {}

    def _write(self, entries: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.path) as tmp:
            tmp.write_text(json.dumps({"models": entries}, indent=2), encoding="utf-8")


def _key(model: str | Path) -> str:
    return str(Path(model).expanduser().resolve())
