"""A tokenizer.json ``pre_tokenizer`` as a flat tuple of comparable steps.

Only the settings that change how text is split are kept (``trim_offsets`` only affects
offsets), and equivalent spellings are made equal (nested ``Sequence``s, a regex written with
a literal newline or with ``\\n``, defaults left out of the JSON), so that the table in
``pretokenizers.py`` can compare pipelines with ``==``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class PipelineError(ValueError):
    """The pre-tokenizer does something no llama.cpp tokenizer can reproduce."""


@dataclass(frozen=True, slots=True)
class ByteLevel:
    use_regex: bool

    def describe(self) -> str:
        return "ByteLevel (GPT-2 split rule)" if self.use_regex else "ByteLevel"


@dataclass(frozen=True, slots=True)
class Split:
    pattern: str
    is_regex: bool = True
    behavior: str = "Isolated"
    invert: bool = False

    def __post_init__(self) -> None:
        if self.is_regex:  # table entries and parsed files compare equal however they spell it
            object.__setattr__(self, "pattern", _canonical_regex(self.pattern))

    def describe(self) -> str:
        kind = "regex" if self.is_regex else "string"
        extra = "" if self.behavior == "Isolated" else f", behavior {self.behavior}"
        extra += ", inverted" if self.invert else ""
        return f"Split on {kind} `{self.pattern}`{extra}"


@dataclass(frozen=True, slots=True)
class Digits:
    individual: bool

    def describe(self) -> str:
        return "Digits (one by one)" if self.individual else "Digits (runs)"


@dataclass(frozen=True, slots=True)
class Punctuation:
    behavior: str

    def describe(self) -> str:
        return f"Punctuation ({self.behavior})"


@dataclass(frozen=True, slots=True)
class OtherStep:
    """A step type the table never uses (Metaspace, Whitespace, BertPreTokenizer …)."""

    type: str
    settings: str

    def describe(self) -> str:
        return f"{self.type} {self.settings}"


Step = ByteLevel | Split | Digits | Punctuation | OtherStep


def _canonical_regex(pattern: str) -> str:
    """Spell control characters as escapes: ``"[\\r\\n]"`` and ``"[\r\n]"`` mean the same."""
    return pattern.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def _parse_split(step: dict[str, Any]) -> Split:
    pattern = step.get("pattern")
    if not isinstance(pattern, dict) or len(pattern) != 1:
        raise PipelineError(f"a Split step has an unreadable pattern: {pattern!r}")
    ((kind, text),) = pattern.items()
    if kind not in ("Regex", "String") or not isinstance(text, str):
        raise PipelineError(f"a Split step has an unreadable pattern: {pattern!r}")
    is_regex = kind == "Regex"
    return Split(
        pattern=text,
        is_regex=is_regex,
        behavior=str(step.get("behavior", "Isolated")),
        invert=bool(step.get("invert", False)),
    )


def _parse_step(step: Any) -> list[Step]:
    if not isinstance(step, dict) or not isinstance(step.get("type"), str):
        raise PipelineError(f"a pre-tokenizer step is not an object with a type: {step!r}")
    kind = step["type"]
    if kind == "Sequence":
        children = step.get("pretokenizers")
        if not isinstance(children, list):
            raise PipelineError("a Sequence pre-tokenizer has no list of steps")
        return [parsed for child in children for parsed in _parse_step(child)]
    if kind == "ByteLevel":
        if step.get("add_prefix_space", False):
            raise PipelineError(
                "its ByteLevel pre-tokenizer adds a space before the text (add_prefix_space), "
                "which llama.cpp's byte-level BPE does not do"
            )
        return [ByteLevel(use_regex=bool(step.get("use_regex", True)))]
    if kind == "Split":
        return [_parse_split(step)]
    if kind == "Digits":
        return [Digits(individual=bool(step.get("individual_digits", False)))]
    if kind == "Punctuation":
        return [Punctuation(behavior=str(step.get("behavior", "Isolated")))]
    settings = {key: value for key, value in step.items() if key != "type"}
    return [OtherStep(kind, json.dumps(settings, sort_keys=True, ensure_ascii=False))]


def parse_pipeline(pre_tokenizer: Any) -> tuple[Step, ...]:
    """Flatten tokenizer.json's ``pre_tokenizer`` (``None`` gives an empty pipeline)."""
    if pre_tokenizer is None:
        return ()
    return tuple(_parse_step(pre_tokenizer))


def describe_pipeline(steps: tuple[Step, ...]) -> str:
    if not steps:
        return "none"
    return " → ".join(step.describe() for step in steps)
