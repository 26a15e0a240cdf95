"""Per-architecture conversion knowledge, looked up by the checkpoint's Hugging Face class."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from converter.architectures.architecture_spec import ArchSpec
from converter.architectures.gemma import GEMMA2, GEMMA3, GEMMA3_MULTIMODAL
from converter.architectures.granite import GRANITE
from converter.architectures.llama import LLAMA
from converter.architectures.llama_multimodal import LLAVA, MISTRAL3
from converter.architectures.olmo2 import OLMO2
from converter.architectures.phi3 import PHI3
from converter.architectures.qwen import QWEN2, QWEN3
from converter.architectures.qwen_moe import QWEN2_MOE, QWEN3_MOE
from converter.errors import UnsupportedArchitecture

FAMILIES: tuple[ArchSpec, ...] = (
    LLAMA, QWEN2, QWEN3, QWEN2_MOE, QWEN3_MOE, PHI3, GEMMA2, GEMMA3, GEMMA3_MULTIMODAL,
    GRANITE, MISTRAL3, LLAVA, OLMO2,
)  # fmt: skip

#: Hugging Face ``architectures[0]`` → the spec that converts it.
BY_HF_CLASS: Mapping[str, ArchSpec] = MappingProxyType(
    {hf_class: spec for spec in FAMILIES for hf_class in spec.hf_classes}
)

SUPPORTED_HF_CLASSES: tuple[str, ...] = tuple(BY_HF_CLASS)

#: Hugging Face ``model_type`` → the spec for configs of that type (hub listings give the
#: type before a repo's config.json is read).
BY_MODEL_TYPE: Mapping[str, ArchSpec] = MappingProxyType(
    {model_type: spec for spec in FAMILIES for model_type in spec.model_types}
)


def hf_class_of(config: Mapping[str, Any]) -> str | None:
    classes = config.get("architectures")
    if isinstance(classes, list) and classes and isinstance(classes[0], str):
        return classes[0]
    return None


def unsupported_reason(config: Mapping[str, Any]) -> str | None:
    """Why this config cannot be converted, or None when it can."""
    hf_class = hf_class_of(config)
    supported = ", ".join(SUPPORTED_HF_CLASSES)
    if hf_class is None:
        return f"config.json names no architecture. Supported: {supported}."
    if hf_class not in BY_HF_CLASS:
        return f"The architecture {hf_class} is not supported. Supported: {supported}."
    return None


def find_architecture(config: Mapping[str, Any]) -> ArchSpec:
    """The spec for ``config``, or :class:`UnsupportedArchitecture` listing what is supported."""
    if (reason := unsupported_reason(config)) is not None:
        raise UnsupportedArchitecture(reason)
    return BY_HF_CLASS[hf_class_of(config)]  # type: ignore[index]


__all__ = [
    "BY_HF_CLASS",
    "BY_MODEL_TYPE",
    "FAMILIES",
    "SUPPORTED_HF_CLASSES",
    "ArchSpec",
    "find_architecture",
    "hf_class_of",
    "unsupported_reason",
]
