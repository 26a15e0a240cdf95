"""The shape of per-architecture knowledge: immutable tables, no behaviour beyond lookups.

An :class:`ArchSpec` says which Hugging Face classes it covers, which llama.cpp architecture
they become, how every checkpoint tensor name maps to a GGUF tensor (and which named
transforms apply on the way), which metadata keys to write and which tensors to generate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import gguf
import numpy as np

from converter.architectures.hparams import HParams
from converter.architectures.multimodal import TextPart

MetadataWriter = Callable[[gguf.GGUFWriter, HParams], None]
ExtraTensors = Callable[[HParams], tuple[tuple[gguf.MODEL_TENSOR, np.ndarray], ...]]
#: The placeholder for an expert's number in a :class:`TensorRule` name.
EXPERT = "{xid}"


@dataclass(frozen=True, slots=True)
class TensorRule:
    """``hf`` is a checkpoint name with ``{bid}`` for the layer number (``.weight``/``.bias``
    included); it becomes ``tensor``'s GGUF name with the same suffix.

    A name with ``{xid}`` (an expert number) matches one tensor per expert; the experts of a
    layer are stacked along a new leading axis into one GGUF tensor, as llama.cpp's
    mixture-of-experts graphs read them. ``f32`` keeps a matrix in float32 whatever the output
    type (llama.cpp's quantizer leaves such tensors, like expert routers, as they are);
    ``vector`` writes a ``(1, n)`` matrix as the length-``n`` vector llama.cpp expects.
    """

    hf: str
    tensor: gguf.MODEL_TENSOR
    transforms: tuple[str, ...] = ()
    required: bool = True
    f32: bool = False
    vector: bool = False

    @property
    def per_expert(self) -> bool:
        return EXPERT in self.hf


def rule(
    hf: str,
    tensor: gguf.MODEL_TENSOR,
    *transforms: str,
    required: bool = True,
    f32: bool = False,
    vector: bool = False,
) -> TensorRule:
    return TensorRule(hf, tensor, tuple(transforms), required, f32, vector)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """The rule a checkpoint tensor falls under, with its layer and expert numbers (None where
    the rule's name has no such placeholder)."""

    rule: TensorRule
    bid: int | None
    xid: int | None


def _no_check(hp: HParams) -> None:
    return None


def _no_extra_tensors(hp: HParams) -> tuple[tuple[gguf.MODEL_TENSOR, np.ndarray], ...]:
    return ()


@dataclass(frozen=True, slots=True)
class ArchSpec:
    """Everything the converter knows about one family."""

    gguf_arch: gguf.MODEL_ARCH
    hf_classes: tuple[str, ...]
    rules: tuple[TensorRule, ...]
    write_metadata: MetadataWriter
    extra_tensors: ExtraTensors = _no_extra_tensors
    #: Checkpoint tensors that llama.cpp does not use (rope caches of old exports …).
    ignored: tuple[str, ...] = ()
    #: ``tie_word_embeddings`` when config.json does not say.
    tied_by_default: bool = False
    #: When tied (or when llama.cpp never reads it), ``lm_head.weight`` is dropped.
    output_rule: str = "lm_head.weight"
    #: Hugging Face ``model_type`` values of these classes' configs (hub listings name a
    #: repo's model type before its config is read).
    model_types: tuple[str, ...] = ()
    #: For a multimodal class: where its text model is and what the GGUF leaves out.
    text_part: TextPart | None = None
    #: Raises when the config describes a model llama.cpp's graph would compute differently;
    #: run while planning, before any output exists.
    check: Callable[[HParams], None] = _no_check
    _patterns: tuple[tuple[re.Pattern[str], TensorRule], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        patterns = tuple((re.compile(_pattern_text(r.hf) + r"\Z"), r) for r in self.rules)
        object.__setattr__(self, "_patterns", patterns)

    @property
    def name(self) -> str:
        """llama.cpp's architecture name (``general.architecture``)."""
        return gguf.MODEL_ARCH_NAMES[self.gguf_arch]

    @property
    def notes(self) -> tuple[str, ...]:
        """What a GGUF of these classes leaves out on purpose, told to the person converting."""
        return (self.text_part.note,) if self.text_part is not None else ()

    def match(self, hf_name: str) -> RuleMatch | None:
        """The rule for a checkpoint tensor with its layer and expert, or None if there is none."""
        for pattern, tensor_rule in self._patterns:
            if found := pattern.match(hf_name):
                numbers = found.groupdict()
                bid, xid = numbers.get("bid"), numbers.get("xid")
                return RuleMatch(
                    tensor_rule,
                    int(bid) if bid is not None else None,
                    int(xid) if xid is not None else None,
                )
        return None

    def is_ignored(self, hf_name: str) -> bool:
        return any(re.fullmatch(pattern, hf_name) for pattern in self.ignored)


def _pattern_text(hf: str) -> str:
    escaped = re.escape(hf).replace(r"\{bid\}", r"(?P<bid>\d+)")
    return escaped.replace(re.escape(EXPERT), r"(?P<xid>\d+)")


def gguf_tensor_name(tensor: gguf.MODEL_TENSOR, bid: int | None, suffix: str) -> str:
    """``blk.3.attn_q`` + ``.weight``, from gguf's own name table."""
    return gguf.TENSOR_NAMES[tensor].format(bid=bid) + suffix
