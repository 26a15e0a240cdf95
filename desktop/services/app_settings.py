"""The app's settings: one typed, immutable object saved as JSON in the config folder.

Unknown keys are ignored and values of the wrong type fall back to their defaults, so a
settings file from another version (or edited by hand) never stops the app from starting.
The file is written atomically so a crash while saving cannot leave it half-written.
"""

from __future__ import annotations

import dataclasses
import json
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints

from converter.kv_cache_types import KV_CACHE_TYPES
from converter.paths import config_dir
from converter.storage import atomic_output
from desktop.engine.reasoning import thinking_options

if TYPE_CHECKING:  # the worker package is imported when a reply starts
    from desktop.engine.worker import SamplingSettings

SETTINGS_NAME = "settings.json"
THEMES = ("system", "light", "dark")
KV_TYPES = tuple(KV_CACHE_TYPES)


@dataclass(frozen=True, slots=True)
class Sampling:
    """Per-conversation generation settings (a conversation stores its own copy)."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    seed: int | None = None  # None: a new random seed for every reply
    context_tokens: int = 4096
    #: A reasoning model thinks before answering (True), answers at once (False), or does as
    #: its chat template does by default (None); for templates that read ``enable_thinking``.
    thinking: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Sampling:
        return _from_json(cls, data)

    def template_options(self) -> dict[str, Any]:
        """What the chat template is rendered with besides the messages."""
        return thinking_options(self.thinking)

    def engine_settings(self) -> SamplingSettings:
        """These settings as the inference worker takes them (the context size is a load
        setting, not a sampling one)."""
        from desktop.engine.worker import SamplingSettings  # imported at first use

        return SamplingSettings(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            repeat_penalty=self.repeat_penalty,
            seed=self.seed,
            max_tokens=self.max_tokens,
        )


@dataclass(frozen=True, slots=True)
class Settings:
    extra_library_folders: tuple[str, ...] = ()
    context_tokens: int = 4096
    kv_type: str = "f16"
    theme: str = "system"
    threads: int = 0  # 0: let llama.cpp choose
    system_prompt: str = "You are a helpful assistant."
    sampling: Sampling = field(default_factory=Sampling)
    window_geometry: str = ""  # QMainWindow.saveGeometry(), base64
    window_state: str = ""  # QMainWindow.saveState(), base64
    chat_settings_panel: bool | None = None  # shown beside the chat; None: by screen width
    last_model: str = ""
    last_conversation_id: int = 0  # 0: none

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["extra_library_folders"] = list(self.extra_library_folders)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Settings:
        settings = _from_json(cls, data)
        theme = settings.theme if settings.theme in THEMES else "system"
        kv_type = settings.kv_type if settings.kv_type in KV_TYPES else "f16"
        return dataclasses.replace(settings, theme=theme, kv_type=kv_type)


def settings_path() -> Path:
    return config_dir() / SETTINGS_NAME


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or the defaults when there is no readable file."""
    path = path or settings_path()
    try:
        return Settings.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(settings.to_json(), indent=2), encoding="utf-8")


def _from_json(cls: type, data: Any) -> Any:
    """Build dataclass ``cls`` from ``data``, keeping only fields whose value has the right type."""
    if not isinstance(data, dict):
        return cls()
    hints = get_type_hints(cls)
    accepted: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = _coerce(hints[f.name], data[f.name])
        if value is not _INVALID:
            accepted[f.name] = value
    return cls(**accepted)


_INVALID = object()


def _coerce(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _from_json(hint, value)
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in get_args(hint):
            coerced = _coerce(option, value)
            if coerced is not _INVALID:
                return coerced
        return _INVALID
    if origin is tuple:
        (item,) = get_args(hint)[:1]
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            return _INVALID
        return tuple(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        return _INVALID
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    return _INVALID
