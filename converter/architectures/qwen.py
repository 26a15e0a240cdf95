"""Qwen 2/2.5 (q/k/v biases) and Qwen 3 (per-head q/k RMSNorm): ``qwen2`` and ``qwen3``.

Both use llama.cpp's NEOX rope, which is Hugging Face's rotate-half layout, so no rows move.
"""

from __future__ import annotations

import gguf

from converter.architectures.architecture_spec import ArchSpec, rule
from converter.architectures.decoder import LAYER, ROPE_CACHES, decoder_rules
from converter.architectures.hparams import HParams
from converter.architectures.metadata import check_rope_scaling, write_common

ROPE_SCALINGS = ("default", "linear", "yarn")


def write_metadata(writer: gguf.GGUFWriter, hp: HParams) -> None:
    check_rope_scaling(hp, ROPE_SCALINGS)
    write_common(writer, hp)


QWEN2 = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.QWEN2,
    hf_classes=("Qwen2ForCausalLM",),
    model_types=("qwen2",),
    rules=decoder_rules(qkv_bias=True),
    write_metadata=write_metadata,
    ignored=ROPE_CACHES,
)

QWEN3 = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.QWEN3,
    hf_classes=("Qwen3ForCausalLM",),
    model_types=("qwen3",),
    rules=(
        *decoder_rules(),
        rule(LAYER + "self_attn.q_norm.weight", gguf.MODEL_TENSOR.ATTN_Q_NORM),
        rule(LAYER + "self_attn.k_norm.weight", gguf.MODEL_TENSOR.ATTN_K_NORM),
    ),
    write_metadata=write_metadata,
    ignored=ROPE_CACHES,
)
