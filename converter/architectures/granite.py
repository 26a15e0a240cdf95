"""IBM Granite 3.x dense models (``GraniteForCausalLM``): llama.cpp's ``granite`` architecture.

The weights are laid out as Llama's and llama.cpp's granite graph uses the same paired rope,
so the query and key rows are permuted as for Llama. What makes Granite differ are four
scalar multipliers, each of which llama.cpp reads from its own key:

* ``embedding_multiplier`` scales the token embeddings (``embedding_scale``);
* ``residual_multiplier`` scales each attention and MLP output before it is added back
  (``residual_scale``);
* ``attention_multiplier`` replaces ``1/sqrt(head_dim)`` as the attention scale
  (``attention_scale``);
* ``logits_scaling`` divides the logits (``logit_scale``; llama.cpp divides by it too).

transformers' defaults (1.0 each) apply when the config omits one, and all four are always
written: llama.cpp's own default attention scale is ``1/sqrt(head_dim)``, not 1. llama.cpp
takes a zero multiplier to mean "not set" and would silently compute something else, so zero
is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

import gguf

from converter.architectures.architecture_spec import ArchSpec
from converter.architectures.decoder import ROPE_CACHES, decoder_rules
from converter.architectures.hparams import HParams
from converter.architectures.metadata import check_rope_scaling, write_common
from converter.errors import UnsupportedArchitecture

ROPE_SCALINGS = ("default",)

#: config.json key → the gguf writer method for llama.cpp's key (transformers' default is 1.0).
MULTIPLIERS: MappingProxyType[str, Callable[[gguf.GGUFWriter, float], None]] = MappingProxyType(
    {
        "embedding_multiplier": gguf.GGUFWriter.add_embedding_scale,
        "residual_multiplier": gguf.GGUFWriter.add_residual_scale,
        "attention_multiplier": gguf.GGUFWriter.add_attention_scale,
        "logits_scaling": gguf.GGUFWriter.add_logit_scale,
    }
)


def multiplier(hp: HParams, key: str) -> float:
    return float(hp.get(key, 1.0))


def check(hp: HParams) -> None:
    """Refuse multipliers llama.cpp would read as "unset" (zero) before anything is written."""
    check_rope_scaling(hp, ROPE_SCALINGS)
    zero = [key for key in MULTIPLIERS if multiplier(hp, key) == 0.0]
    if zero:
        raise UnsupportedArchitecture(
            f"config.json sets {', '.join(zero)} to 0. llama.cpp treats a zero multiplier as "
            "not set and would compute a different model; the checkpoint's config is likely "
            "damaged."
        )


def write_metadata(writer: gguf.GGUFWriter, hp: HParams) -> None:
    write_common(writer, hp)
    for key, add in MULTIPLIERS.items():
        add(writer, multiplier(hp, key))


GRANITE = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.GRANITE,
    hf_classes=("GraniteForCausalLM",),
    model_types=("granite",),
    rules=decoder_rules(q=("rope_permute_q",), k=("rope_permute_k",)),
    write_metadata=write_metadata,
    ignored=ROPE_CACHES,
    check=check,
)
