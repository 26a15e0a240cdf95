"""Phi-3 / Phi-3.5 (``Phi3ForCausalLM``): llama.cpp's ``phi3`` architecture.

Phi-3 stores q, k and v as one fused ``qkv_proj`` and gate and up as one fused
``gate_up_proj``. llama.cpp's phi3 graph reads exactly those fused matrices (``attn_qkv`` and an
``ffn_up`` of twice the feed-forward width, split inside the graph), so they are copied as they
are. The 128k-context variants use "longrope" (formerly "su") scaling: two per-frequency factor
lists, written as ``rope_factors_long``/``rope_factors_short``, plus an attention factor.
The sliding window is recorded (0 when the config has none) as llama.cpp's converter records
it, though llama.cpp does not apply it to phi3 yet.
"""

from __future__ import annotations

import math

import gguf
import numpy as np

from converter.architectures.architecture_spec import ArchSpec, rule
from converter.architectures.decoder import LAYER, ROPE_CACHES
from converter.architectures.hparams import HParams
from converter.architectures.metadata import check_rope_scaling, write_common
from converter.errors import CheckpointError

T = gguf.MODEL_TENSOR
ROPE_SCALINGS = ("default", "longrope", "su")


def _original_context(hp: HParams) -> int:
    value = hp.rope.params.get("original_max_position_embeddings")
    return int(value or hp.get("original_max_position_embeddings", hp.context_length))


def longrope_attention_factor(hp: HParams) -> float:
    """The factor scaling attention logits when the context is stretched (LongRoPE paper)."""
    if (given := hp.rope.params.get("attention_factor")) is not None:
        return float(given)
    scale = hp.context_length / _original_context(hp)
    return math.sqrt(1 + math.log(scale) / math.log(_original_context(hp))) if scale > 1 else 1.0


def write_metadata(writer: gguf.GGUFWriter, hp: HParams) -> None:
    check_rope_scaling(hp, ROPE_SCALINGS)
    write_common(writer, hp)
    writer.add_rope_scaling_orig_ctx_len(_original_context(hp))
    writer.add_sliding_window(int(hp.get("sliding_window") or 0))
    if hp.rope.scaling_type in ("longrope", "su"):
        writer.add_rope_scaling_attn_factors(longrope_attention_factor(hp))


def extra_tensors(hp: HParams) -> tuple[tuple[gguf.MODEL_TENSOR, np.ndarray], ...]:
    if hp.rope.scaling_type not in ("longrope", "su"):
        return ()
    long = hp.rope.params.get("long_factor")
    short = hp.rope.params.get("short_factor")
    rotated_pairs = int(hp.head_dim * hp.rope.partial_rotary_factor) // 2
    if not long or not short or len(long) != rotated_pairs or len(short) != rotated_pairs:
        raise CheckpointError(
            "config.json's longrope scaling needs long_factor and short_factor lists of "
            f"{rotated_pairs} numbers each; the checkpoint's config is damaged."
        )
    return (
        (T.ROPE_FACTORS_LONG, np.asarray(long, dtype=np.float32)),
        (T.ROPE_FACTORS_SHORT, np.asarray(short, dtype=np.float32)),
    )


PHI3 = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.PHI3,
    hf_classes=("Phi3ForCausalLM",),
    model_types=("phi3",),
    rules=(
        rule("model.embed_tokens.weight", T.TOKEN_EMBD),
        rule("model.norm.weight", T.OUTPUT_NORM),
        rule("lm_head.weight", T.OUTPUT, required=False),
        rule(LAYER + "input_layernorm.weight", T.ATTN_NORM),
        rule(LAYER + "self_attn.qkv_proj.weight", T.ATTN_QKV),
        rule(LAYER + "self_attn.o_proj.weight", T.ATTN_OUT),
        rule(LAYER + "post_attention_layernorm.weight", T.FFN_NORM),
        rule(LAYER + "mlp.gate_up_proj.weight", T.FFN_UP),
        rule(LAYER + "mlp.down_proj.weight", T.FFN_DOWN),
    ),
    write_metadata=write_metadata,
    extra_tensors=extra_tensors,
    ignored=ROPE_CACHES,
)
