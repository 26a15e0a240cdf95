"""The tensor table of the Llama-style decoder that most families start from.

Hugging Face's Llama, Mistral, Qwen 2/3 and Gemma checkpoints share these names; a family's
module takes this table, names the transforms its layout needs and adds or swaps a few rows.
"""

from __future__ import annotations

import gguf

from converter.architectures.architecture_spec import TensorRule, rule

T = gguf.MODEL_TENSOR
LAYER = "model.layers.{bid}."

#: Checkpoint entries that hold no weights llama.cpp needs (rope caches of older exports).
ROPE_CACHES: tuple[str, ...] = (r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",)


def decoder_rules(
    *,
    q: tuple[str, ...] = (),
    k: tuple[str, ...] = (),
    norms: tuple[str, ...] = (),
    qkv_bias: bool = False,
) -> tuple[TensorRule, ...]:
    """Embedding, final norm, output head and one attention + gated-MLP block per layer.

    ``q``/``k`` name the transforms for the query and key projections (weights and biases),
    ``norms`` those for every RMSNorm weight; ``qkv_bias`` makes q/k/v biases required (they
    are optional otherwise, as Llama's ``attention_bias`` allows).
    """
    biases = tuple(
        rule(LAYER + f"self_attn.{proj}.bias", tensor, *transforms, required=required)
        for proj, tensor, transforms, required in (
            ("q_proj", T.ATTN_Q, q, qkv_bias),
            ("k_proj", T.ATTN_K, k, qkv_bias),
            ("v_proj", T.ATTN_V, (), qkv_bias),
            ("o_proj", T.ATTN_OUT, (), False),
        )
    )
    return (
        rule("model.embed_tokens.weight", T.TOKEN_EMBD),
        rule("model.norm.weight", T.OUTPUT_NORM, *norms),
        rule("lm_head.weight", T.OUTPUT, required=False),
        rule(LAYER + "input_layernorm.weight", T.ATTN_NORM, *norms),
        rule(LAYER + "self_attn.q_proj.weight", T.ATTN_Q, *q),
        rule(LAYER + "self_attn.k_proj.weight", T.ATTN_K, *k),
        rule(LAYER + "self_attn.v_proj.weight", T.ATTN_V),
        rule(LAYER + "self_attn.o_proj.weight", T.ATTN_OUT),
        rule(LAYER + "post_attention_layernorm.weight", T.FFN_NORM, *norms),
        rule(LAYER + "mlp.gate_proj.weight", T.FFN_GATE),
        rule(LAYER + "mlp.up_proj.weight", T.FFN_UP),
        rule(LAYER + "mlp.down_proj.weight", T.FFN_DOWN),
        *biases,
    )
