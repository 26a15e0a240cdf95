"""The text model inside a multimodal checkpoint, seen under the names its text-only twin uses.

A multimodal checkpoint stores its language model under a prefix that changed with the
transformers version that saved it (``language_model.model.*`` before 4.52 and again from
5.0, ``model.language_model.*`` from 4.52 to 4.57), next to an image encoder and its
projector. llama.cpp's text architecture needs only the language model; the image part would
be a separate ``mmproj`` file, which Quantdesk does not write. A :class:`TextPart` says, as
data, which prefixes to rename and which tensors are left out on purpose, so the family's
ordinary tensor table applies unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

from converter.checkpoint import Checkpoint, TensorRef
from converter.errors import CheckpointError


@dataclass(frozen=True, slots=True)
class TextPart:
    """Where the language model sits in a multimodal checkpoint, and what is left out."""

    #: ``(checkpoint prefix, prefix the tensor rules use)``, tried in order; names that start
    #: with none of them are kept as they are.
    prefixes: tuple[tuple[str, str], ...]
    #: Full-match patterns of the other modalities' tensors, which the GGUF leaves out.
    skipped: tuple[str, ...]
    #: Told to the person converting: what the GGUF does not contain.
    note: str

    def text_name(self, name: str) -> str:
        for prefix, replacement in self.prefixes:
            if name.startswith(prefix):
                return replacement + name[len(prefix) :]
        return name

    def is_skipped(self, name: str) -> bool:
        return any(re.fullmatch(pattern, name) for pattern in self.skipped)


def language_model_view(checkpoint: Checkpoint, part: TextPart | None) -> Checkpoint:
    """``checkpoint`` with only its text model's tensors, under the text-only names.

    Each :class:`TensorRef` keeps its stored name, so messages quote the file's own names. Two
    stored names that mean the same tensor (a folder mixing two transformers versions' files)
    are a :class:`CheckpointError`.
    """
    if part is None:
        return checkpoint
    tensors: dict[str, TensorRef] = {}
    for name, ref in checkpoint.tensors.items():
        if part.is_skipped(name):
            continue
        text_name = part.text_name(name)
        if (other := tensors.get(text_name)) is not None:
            raise CheckpointError(
                f"{checkpoint.name} holds both {other.name} and {name}, two names for the same "
                "tensor; the folder mixes files saved by different transformers versions. "
                "Download the model again into an empty folder."
            )
        tensors[text_name] = ref
    return Checkpoint(checkpoint.folder, checkpoint.config, MappingProxyType(tensors))


#: The layout transformers' weight-conversion table calls "llava" and shares among Gemma 3,
#: Mistral 3 (Mistral Small 3.x) and LLaVA (Pixtral): the language model under one of two
#: prefixes, the image encoder as ``vision_tower`` and its projector as
#: ``multi_modal_projector`` (either maybe under ``model.``).
LLAVA_LAYOUT = TextPart(
    prefixes=(
        ("model.language_model.", "model."),  # saved by transformers 4.52 to 4.57
        ("language_model.model.", "model."),  # saved before 4.52 and from 5.0
        ("language_model.lm_head.", "lm_head."),
    ),
    skipped=(r"(model\.)?vision_tower\..+", r"(model\.)?multi_modal_projector\..+"),
    note=(
        "Only the text model was converted: the GGUF chats but cannot see images (llama.cpp "
        "keeps the image encoder in a separate mmproj file, which Quantdesk does not make)."
    ),
)
