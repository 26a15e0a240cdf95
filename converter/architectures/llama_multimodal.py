"""Mistral Small 3.x and LLaVA checkpoints: their Mistral or Llama text model, as ``llama``.

``Mistral3ForConditionalGeneration`` (Mistral Small 3.1/3.2 24B) and
``LlavaForConditionalGeneration`` (LLaVA 1.5, Pixtral 12B in Hugging Face format) wrap a
``MistralForCausalLM`` or ``LlamaForCausalLM`` in the "llava" layout next to an image encoder.
The text model converts exactly as its text-only class does (the same tensor table, rope row
permutation and metadata); the image part is left out, as for Gemma 3. The same outer classes
also wrap text models llama.cpp computes differently (Ministral 3's scaled attention, a Qwen2
in LLaVA-Interleave), which are refused before anything is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from converter.architectures.hparams import HParams
from converter.architectures.llama import LLAMA
from converter.architectures.multimodal import LLAVA_LAYOUT
from converter.errors import UnsupportedArchitecture


def _text_model_must_be(*model_types: str) -> Callable[[HParams], None]:
    """A plan-time check that the wrapped text model is one the ``llama`` graph computes."""

    def check(hp: HParams) -> None:
        text_type = hp.get("model_type")
        if text_type not in model_types:
            raise UnsupportedArchitecture(
                f"The text model inside this checkpoint is a {text_type!r} model; Quantdesk "
                f"converts this multimodal class only with a {' or '.join(model_types)} text "
                "model, which llama.cpp computes as its 'llama' architecture."
            )

    return check


MISTRAL3 = dataclasses.replace(
    LLAMA,
    hf_classes=("Mistral3ForConditionalGeneration",),
    model_types=("mistral3",),
    text_part=LLAVA_LAYOUT,
    check=_text_model_must_be("mistral"),
)

LLAVA = dataclasses.replace(
    LLAMA,
    hf_classes=("LlavaForConditionalGeneration",),
    model_types=("llava",),
    text_part=LLAVA_LAYOUT,
    check=_text_model_must_be("llama", "mistral"),
)
