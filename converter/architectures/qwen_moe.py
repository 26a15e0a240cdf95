"""Qwen 3 MoE (Qwen3-30B-A3B, 235B-A22B) and Qwen 1.5/2 MoE: ``qwen3moe`` and ``qwen2moe``.

Attention is Qwen 3's (per-head q/k RMSNorm) or Qwen 2's (q/k/v biases); every layer's MLP is
a router (``mlp.gate``) choosing ``num_experts_per_tok`` of ``num_experts`` gated MLPs. The
checkpoint stores each expert's three matrices separately; llama.cpp wants them stacked per
layer into ``ffn_{gate,up,down}_exps`` of shape (experts, rows, columns). The stack is written
expert by expert, each read a block of rows at a time from its own memory map, so conversion
memory stays at one block (as for dense models) rather than growing with the expert count:
Qwen3-30B-A3B's 128 experts a layer make each stacked tensor 768 MiB in float32.

Qwen 2 MoE adds a shared expert every token goes through, scaled by a sigmoid gate whose
weight Hugging Face stores as a (1, hidden) matrix and llama.cpp reads as a vector. Routers stay
float32, as llama.cpp's own converter writes them: its quantizer never touches them, and a
rounded router can pick different experts.

llama.cpp's graphs fix what the config leaves open: qwen3moe always renormalises the chosen
experts' weights and qwen2moe never does, and both expect experts in every layer. A config
asking otherwise (``norm_topk_prob``, ``mlp_only_layers``, ``decoder_sparse_step``) is refused
before anything is written, since the converted model would compute something else.
"""

from __future__ import annotations

import gguf

from converter.architectures.architecture_spec import ArchSpec, TensorRule, rule
from converter.architectures.decoder import LAYER, ROPE_CACHES, decoder_rules
from converter.architectures.hparams import HParams
from converter.architectures.metadata import check_rope_scaling, write_common
from converter.errors import CheckpointError, UnsupportedArchitecture

T = gguf.MODEL_TENSOR
ROPE_SCALINGS = ("default", "linear", "yarn")
EXPERT = LAYER + "mlp.experts.{xid}."
_DENSE_MLP = frozenset({T.FFN_GATE, T.FFN_UP, T.FFN_DOWN})

#: The routed experts and their router, the same in both families.
ROUTED_EXPERTS: tuple[TensorRule, ...] = (
    rule(LAYER + "mlp.gate.weight", T.FFN_GATE_INP, f32=True),
    rule(EXPERT + "gate_proj.weight", T.FFN_GATE_EXP),
    rule(EXPERT + "up_proj.weight", T.FFN_UP_EXP),
    rule(EXPERT + "down_proj.weight", T.FFN_DOWN_EXP),
)

#: Qwen 2 MoE's shared expert and its gate.
SHARED_EXPERT: tuple[TensorRule, ...] = (
    rule(LAYER + "mlp.shared_expert_gate.weight", T.FFN_GATE_INP_SHEXP, vector=True),
    rule(LAYER + "mlp.shared_expert.gate_proj.weight", T.FFN_GATE_SHEXP),
    rule(LAYER + "mlp.shared_expert.up_proj.weight", T.FFN_UP_SHEXP),
    rule(LAYER + "mlp.shared_expert.down_proj.weight", T.FFN_DOWN_SHEXP),
)


def _attention_rules(*, qkv_bias: bool) -> tuple[TensorRule, ...]:
    """The decoder table without its dense MLP, which the experts replace."""
    return tuple(r for r in decoder_rules(qkv_bias=qkv_bias) if r.tensor not in _DENSE_MLP)


def _check_experts(hp: HParams, arch: str, renormalises: bool) -> None:
    if hp.n_expert <= 0 or not 0 < hp.n_expert_used <= hp.n_expert:
        raise CheckpointError(
            f"config.json gives {hp.n_expert} experts (num_experts) with {hp.n_expert_used} used "
            "per token (num_experts_per_tok); a mixture-of-experts model needs at least one "
            "expert per token and no more than it has. The config is damaged."
        )
    if hp.get("moe_intermediate_size") is None:
        raise CheckpointError(
            "config.json lacks moe_intermediate_size, the width of each expert; the checkpoint "
            "is incomplete."
        )
    if hp.get("mlp_only_layers") or int(hp.get("decoder_sparse_step", 1)) != 1:
        raise UnsupportedArchitecture(
            "This model has dense MLP layers between its expert layers (mlp_only_layers or "
            f"decoder_sparse_step), which llama.cpp's {arch} does not support."
        )
    if (normalised := bool(hp.get("norm_topk_prob", False))) != renormalises:
        wanted = "always renormalises" if renormalises else "never renormalises"
        raise UnsupportedArchitecture(
            f"This model's norm_topk_prob is {normalised}, but llama.cpp's {arch} {wanted} the "
            "chosen experts' weights, so the converted model would compute different results. "
            "Quantdesk cannot convert it."
        )


def check_qwen3_moe(hp: HParams) -> None:
    _check_experts(hp, "qwen3moe", renormalises=True)


def check_qwen2_moe(hp: HParams) -> None:
    _check_experts(hp, "qwen2moe", renormalises=False)
    if hp.get("shared_expert_intermediate_size") is None:
        raise CheckpointError(
            "config.json lacks shared_expert_intermediate_size, the width of the shared "
            "expert; the checkpoint is incomplete."
        )
    if hp.tied_embeddings:
        raise UnsupportedArchitecture(
            "This Qwen 2 MoE model ties its output layer to the token embedding, but llama.cpp's "
            "qwen2moe needs a separate output matrix. Quantdesk cannot convert it."
        )


def _write_experts(writer: gguf.GGUFWriter, hp: HParams) -> None:
    check_rope_scaling(hp, ROPE_SCALINGS)
    write_common(writer, hp)
    writer.add_expert_count(hp.n_expert)
    writer.add_expert_used_count(hp.n_expert_used)
    writer.add_expert_feed_forward_length(int(hp.get("moe_intermediate_size")))


def write_qwen2_moe_metadata(writer: gguf.GGUFWriter, hp: HParams) -> None:
    _write_experts(writer, hp)
    writer.add_expert_shared_feed_forward_length(int(hp.get("shared_expert_intermediate_size")))


QWEN3_MOE = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.QWEN3MOE,
    hf_classes=("Qwen3MoeForCausalLM",),
    model_types=("qwen3_moe",),
    rules=(
        *_attention_rules(qkv_bias=False),
        rule(LAYER + "self_attn.q_norm.weight", T.ATTN_Q_NORM),
        rule(LAYER + "self_attn.k_norm.weight", T.ATTN_K_NORM),
        *ROUTED_EXPERTS,
    ),
    write_metadata=_write_experts,
    ignored=ROPE_CACHES,
    check=check_qwen3_moe,
)

QWEN2_MOE = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.QWEN2MOE,
    hf_classes=("Qwen2MoeForCausalLM",),
    model_types=("qwen2_moe",),
    rules=(*_attention_rules(qkv_bias=True), *ROUTED_EXPERTS, *SHARED_EXPERT),
    write_metadata=write_qwen2_moe_metadata,
    ignored=ROPE_CACHES,
    check=check_qwen2_moe,
)
