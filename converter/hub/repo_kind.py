"""What a hub repo can be used for, decided from its file names alone.

A repo is a *GGUF repo* when it holds ``.gguf`` files (one per quantization level, or a level
split into ``-00001-of-00003`` shards), a *checkpoint* when it holds safetensors weights the
converter can read, and *unsupported* otherwise (PyTorch ``.bin`` only, ONNX, adapters …).
Whether a model type converts is the converter registry's answer
(:data:`converter.architectures.BY_MODEL_TYPE`), so the hub never claims more or less than
``quantdesk convert`` does.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from converter.gguf_shards import shard_name
from converter.levels import LEVELS, SOURCE_LEVELS


class RepoKind(enum.Enum):
    GGUF = "gguf"
    CHECKPOINT = "checkpoint"
    UNSUPPORTED = "unsupported"


#: Files the converter reads besides the weights (tokenizers ship in several formats).
CHECKPOINT_SIDE_FILES: frozenset[str] = frozenset(
    {
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "tokenizer.model",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "merges.txt",
        "chat_template.jinja",
        "chat_template.json",
        "model.safetensors.index.json",
    }
)

#: Level names as they appear in GGUF file names (llama.cpp's types plus common variants such
#: as bartowski's ``Q4_K_L``); the longest alternatives come first so ``Q4_K_M`` wins over ``Q4_K``.
_LEVEL_PATTERN = re.compile(
    r"(?<![A-Za-z0-9])("
    r"IQ[1-4]_(?:XXS|XS|S|M|NL)|Q[2-8]_K_(?:XL|L|M|S)|Q[2-8]_K|Q[4-8]_[01]|TQ[12]_0|MXFP4"
    r"|BF16|F16|F32|FP16|FP32"
    r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_CATALOGUE = frozenset(lv.name for lv in LEVELS + SOURCE_LEVELS)


@dataclass(frozen=True, slots=True)
class GgufChoice:
    """One downloadable GGUF model: a single file, or all shards of a split one."""

    level: str | None  # "Q4_K_M" …; None when the name does not say
    files: tuple[str, ...]  # shard order; the first one is what llama.cpp opens
    size_bytes: int | None  # None when the listing had no sizes

    @property
    def name(self) -> str:
        return self.files[0]

    @property
    def in_catalogue(self) -> bool:
        """Whether the level is one Quantdesk describes in its level table."""
        return self.level in _CATALOGUE


def level_from_filename(filename: str) -> str | None:
    """The quantization level a GGUF file name announces (``…-Q4_K_M.gguf`` → ``Q4_K_M``)."""
    stem = filename.rsplit("/", 1)[-1]
    matches = _LEVEL_PATTERN.findall(stem)
    if not matches:
        return None
    found = matches[-1].upper()  # the level is usually last: "llama-3-8b-q4_k_m.gguf"
    return {"FP16": "F16", "FP32": "F32"}.get(found, found)


def classify(filenames: Iterable[str]) -> RepoKind:
    names = list(filenames)
    if gguf_choices({name: None for name in names}):
        return RepoKind.GGUF
    if any(_is_root_safetensors(name) for name in names) and "config.json" in names:
        return RepoKind.CHECKPOINT
    return RepoKind.UNSUPPORTED


def gguf_choices(sizes: dict[str, int | None]) -> tuple[GgufChoice, ...]:
    """Group GGUF files (name → size) into downloadable choices, smallest level first.

    Vision projectors (``mmproj``) and imatrix data are not models and are left out; a split
    model is one choice holding all its shards, and only when every shard is present.
    """
    groups: dict[str, list[str]] = {}
    expected: dict[str, int] = {}
    for name in sizes:
        base = name.rsplit("/", 1)[-1].lower()
        if not base.endswith(".gguf") or "mmproj" in base or "imatrix" in base:
            continue
        shard = shard_name(name)
        key = shard.stem if shard else name
        groups.setdefault(key, []).append(name)
        if shard:
            expected[key] = shard.count
    choices = []
    for key, files in groups.items():
        if key in expected and len(files) != expected[key]:
            continue  # an incomplete split upload cannot be loaded
        files.sort()
        known = [sizes[f] for f in files]
        size = None if any(s is None for s in known) else sum(s for s in known if s is not None)
        choices.append(GgufChoice(level_from_filename(key), tuple(files), size))
    return tuple(sorted(choices, key=lambda c: (c.size_bytes or 0, c.name)))


def checkpoint_files(filenames: Iterable[str]) -> tuple[str, ...]:
    """The files conversion needs: config, tokenizer files and safetensors weights (root only)."""
    wanted = (n for n in filenames if n in CHECKPOINT_SIDE_FILES or _is_root_safetensors(n))
    return tuple(sorted(wanted))


def model_type_of(config: dict | None, tags: Iterable[str] = ()) -> str | None:
    """The ``model_type`` from a config (or, failing that, the repo's tags)."""
    # Imported here: the registry loads gguf and numpy, which the main window leaves for later.
    from converter.architectures import BY_HF_CLASS, BY_MODEL_TYPE

    if config:
        model_type = config.get("model_type")
        if isinstance(model_type, str) and model_type:
            return model_type
        for class_name in config.get("architectures") or ():
            spec = BY_HF_CLASS.get(class_name)
            if spec is not None and spec.model_types:
                return spec.model_types[0]
    tag_set = set(tags)
    return next((t for t in sorted(BY_MODEL_TYPE) if t in tag_set), None)


def is_supported(model_type: str | None) -> bool:
    """Whether ``quantdesk convert`` converts checkpoints of this ``model_type``."""
    from converter.architectures import BY_MODEL_TYPE

    return model_type in BY_MODEL_TYPE


def _is_root_safetensors(name: str) -> bool:
    return "/" not in name and name.endswith(".safetensors")
