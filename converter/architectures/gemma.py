"""Gemma 2 and Gemma 3 text models: llama.cpp's ``gemma2`` and ``gemma3`` architectures.

Gemma's RMSNorm multiplies by ``1 + weight``, so every norm weight gets 1 added. Gemma scales
queries by ``query_pre_attn_scalar ** -0.5``, which llama.cpp does not read: it hard-codes its
own scale, so any difference is folded into the query projection (Gemma 2) or into the query
norm (Gemma 3, whose RMSNorm would undo a scaled projection). Sliding-window layers are recorded
one flag per layer; Gemma 3's local layers have their own rope base. Embeddings are tied;
llama.cpp's gemma2 never reads an output matrix, so an untied ``lm_head`` is refused.

Gemma 3's rope scaling (``linear``, factor 8 in the 4B-27B models) applies to the global layers
only; llama.cpp does the same (its local layers use scale 1, read from no key), so the factor
is written as for any model. The 4B-27B models are published as the multimodal
``Gemma3ForConditionalGeneration``: its text model converts to the same ``gemma3`` GGUF.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import gguf

from converter.architectures.architecture_spec import ArchSpec, TensorRule, rule
from converter.architectures.decoder import LAYER, ROPE_CACHES
from converter.architectures.hparams import SLIDING, HParams
from converter.architectures.metadata import check_rope_scaling, write_common, write_sliding_window
from converter.architectures.multimodal import LLAVA_LAYOUT
from converter.errors import UnsupportedArchitecture

T = gguf.MODEL_TENSOR
NORM = "norm_plus_one"


def _gemma_rules(q_proj: tuple[str, ...]) -> tuple[TensorRule, ...]:
    return (
        rule("model.embed_tokens.weight", T.TOKEN_EMBD),
        rule("model.norm.weight", T.OUTPUT_NORM, NORM),
        rule(LAYER + "input_layernorm.weight", T.ATTN_NORM, NORM),
        rule(LAYER + "self_attn.q_proj.weight", T.ATTN_Q, *q_proj),
        rule(LAYER + "self_attn.k_proj.weight", T.ATTN_K),
        rule(LAYER + "self_attn.v_proj.weight", T.ATTN_V),
        rule(LAYER + "self_attn.o_proj.weight", T.ATTN_OUT),
        rule(LAYER + "post_attention_layernorm.weight", T.ATTN_POST_NORM, NORM),
        rule(LAYER + "pre_feedforward_layernorm.weight", T.FFN_NORM, NORM),
        rule(LAYER + "post_feedforward_layernorm.weight", T.FFN_POST_NORM, NORM),
        rule(LAYER + "mlp.gate_proj.weight", T.FFN_GATE),
        rule(LAYER + "mlp.up_proj.weight", T.FFN_UP),
        rule(LAYER + "mlp.down_proj.weight", T.FFN_DOWN),
    )


def _write_softcaps(writer: gguf.GGUFWriter, hp: HParams) -> None:
    if (attn := hp.get("attn_logit_softcapping")) is not None:
        writer.add_attn_logit_softcapping(float(attn))
    if (final := hp.get("final_logit_softcapping")) is not None:
        writer.add_final_logit_softcapping(float(final))


def write_gemma2_metadata(writer: gguf.GGUFWriter, hp: HParams) -> None:
    check_rope_scaling(hp, ("default",))
    write_common(writer, hp)
    _write_softcaps(writer, hp)
    write_sliding_window(writer, hp)


def _check_local_rope(hp: HParams) -> None:
    """llama.cpp cannot scale the local layers' rope: it has no key for their scale."""
    parameters = hp.get("rope_parameters")
    local = parameters.get(SLIDING) if isinstance(parameters, Mapping) else None
    local_type = str((local or {}).get("rope_type", "default"))
    if local_type != "default":
        raise UnsupportedArchitecture(
            f"The checkpoint scales the rope of its sliding-window layers ({local_type!r}); "
            "llama.cpp scales only the global layers of Gemma 3, so the converted model would "
            "compute something else. Only the global layers' rope may be scaled."
        )


def write_gemma3_metadata(writer: gguf.GGUFWriter, hp: HParams) -> None:
    check_rope_scaling(hp, ("default", "linear"))
    _check_local_rope(hp)
    write_common(writer, hp)
    _write_softcaps(writer, hp)
    write_sliding_window(writer, hp)
    if hp.rope.theta_sliding is not None:
        writer.add_rope_freq_base_swa(hp.rope.theta_sliding)


GEMMA2 = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.GEMMA2,
    hf_classes=("Gemma2ForCausalLM",),
    model_types=("gemma2",),
    rules=_gemma_rules(q_proj=("gemma2_query_scale",)),
    write_metadata=write_gemma2_metadata,
    ignored=ROPE_CACHES,
    tied_by_default=True,
)

GEMMA3 = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.GEMMA3,
    hf_classes=("Gemma3ForCausalLM",),
    model_types=("gemma3_text",),
    rules=(
        *_gemma_rules(q_proj=()),
        rule("lm_head.weight", T.OUTPUT, required=False),
        rule(LAYER + "self_attn.q_norm.weight", T.ATTN_Q_NORM, NORM, "gemma3_query_scale"),
        rule(LAYER + "self_attn.k_norm.weight", T.ATTN_K_NORM, NORM),
    ),
    write_metadata=write_gemma3_metadata,
    ignored=ROPE_CACHES,
    tied_by_default=True,
)

GEMMA3_MULTIMODAL = dataclasses.replace(
    GEMMA3,
    hf_classes=("Gemma3ForConditionalGeneration",),
    model_types=("gemma3",),
    text_part=LLAVA_LAYOUT,  # the text model under Gemma3ForCausalLM's names
)
