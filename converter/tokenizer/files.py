"""The tokenizer files of a Hugging Face model folder, read once with readable errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.errors import TokenizerError

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_MODEL = "tokenizer.model"
TOKENIZER_CONFIG = "tokenizer_config.json"
ADDED_TOKENS_JSON = "added_tokens.json"
CONFIG_JSON = "config.json"
GENERATION_CONFIG = "generation_config.json"
CHAT_TEMPLATE_JINJA = "chat_template.jinja"
CHAT_TEMPLATE_JSON = "chat_template.json"


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, ``None`` if the file does not exist.

    A file that exists but cannot be read or parsed is a :class:`TokenizerError`: converting
    without it would silently drop settings the model needs.
    """
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenizerError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise TokenizerError(f"{path} is not UTF-8 text; the file is damaged.") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenizerError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
            "The file may be damaged or incomplete: download it again."
        ) from exc
    if not isinstance(value, dict):
        raise TokenizerError(f"{path} should hold a JSON object, not {type(value).__name__}.")
    return value


def read_text(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenizerError(f"Cannot read {path} as UTF-8 text: {exc}.") from exc


@dataclass(frozen=True)
class TokenizerFiles:
    """Everything in a model folder that describes its tokenizer."""

    folder: Path
    tokenizer_json: dict[str, Any] | None
    tokenizer_config: dict[str, Any]
    config: dict[str, Any]
    generation_config: dict[str, Any]
    added_tokens_json: dict[str, Any]
    chat_template_jinja: str | None
    chat_template_json: dict[str, Any] | None

    @property
    def sentencepiece_model_path(self) -> Path | None:
        path = self.folder / TOKENIZER_MODEL
        return path if path.is_file() else None

    @classmethod
    def read(cls, folder: Path) -> TokenizerFiles:
        if not folder.is_dir():
            raise TokenizerError(f"The model folder {folder} does not exist.")
        return cls(
            folder=folder,
            tokenizer_json=read_json_object(folder / TOKENIZER_JSON),
            tokenizer_config=read_json_object(folder / TOKENIZER_CONFIG) or {},
            config=read_json_object(folder / CONFIG_JSON) or {},
            generation_config=read_json_object(folder / GENERATION_CONFIG) or {},
            added_tokens_json=read_json_object(folder / ADDED_TOKENS_JSON) or {},
            chat_template_jinja=read_text(folder / CHAT_TEMPLATE_JINJA),
            chat_template_json=read_json_object(folder / CHAT_TEMPLATE_JSON),
        )

    def problem(self, what: str) -> TokenizerError:
        """A :class:`TokenizerError` about ``tokenizer.json`` in this folder."""
        return TokenizerError(f"{TOKENIZER_JSON} in {self.folder}: {what}")
