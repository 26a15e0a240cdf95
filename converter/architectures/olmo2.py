"""AllenAI OLMo 2 (``Olmo2ForCausalLM``): llama.cpp's ``olmo2`` architecture.

OLMo 2 normalizes after each block instead of before it (``post_attention_layernorm`` and
``post_feedforward_layernorm`` act on the block's output, before the residual add), and
RMS-normalizes queries and keys over the whole projection (all heads at once, not per head).
llama.cpp's olmo2 graph does exactly that and rotates with the NEOX rope, which is Hugging
Face's rotate-half layout, so no rows move.

The graph reads no biases and always an output matrix, and sizes its query norm by the hidden
size; a config with attention biases, tied embeddings or a head size other than
``hidden_size / heads`` would load wrong or not at all, so it is refused before writing.
"""

from __future__ import annotations

import gguf

from converter.architectures.architecture_spec import ArchSpec, rule
from converter.architectures.decoder import LAYER, ROPE_CACHES
from converter.architectures.hparams import HParams
from converter.architectures.metadata import check_rope_scaling, write_common
from converter.errors import UnsupportedArchitecture

T = gguf.MODEL_TENSOR
ROPE_SCALINGS = ("default",)


def _unsupported(hp: HParams) -> list[str]:
    reasons = []
    if hp.get("attention_bias", False):
        reasons.append("attention biases (attention_bias), which llama.cpp's olmo2 ignores")
    if hp.tied_embeddings:
        reasons.append("tied embeddings, while llama.cpp's olmo2 needs its own output matrix")
    if hp.head_dim * hp.n_head != hp.n_embd:
        reasons.append(
            f"a head size of {hp.head_dim} × {hp.n_head} heads that is not the hidden size "
            f"{hp.n_embd}, which llama.cpp's olmo2 assumes"
        )
    return reasons


def check(hp: HParams) -> None:
    check_rope_scaling(hp, ROPE_SCALINGS)
    if reasons := _unsupported(hp):
        raise UnsupportedArchitecture(
            "This OLMo 2 checkpoint uses " + "; ".join(reasons) + ". llama.cpp would compute a "
            "different model, so it cannot be converted."
        )


def write_metadata(writer: gguf.GGUFWriter, hp: HParams) -> None:
    write_common(writer, hp)


OLMO2 = ArchSpec(
    gguf_arch=gguf.MODEL_ARCH.OLMO2,
    hf_classes=("Olmo2ForCausalLM",),
    model_types=("olmo2",),
    rules=(
        rule("model.embed_tokens.weight", T.TOKEN_EMBD),
        rule("model.norm.weight", T.OUTPUT_NORM),
        rule("lm_head.weight", T.OUTPUT),
        rule(LAYER + "self_attn.q_proj.weight", T.ATTN_Q),
        rule(LAYER + "self_attn.k_proj.weight", T.ATTN_K),
        rule(LAYER + "self_attn.v_proj.weight", T.ATTN_V),
        rule(LAYER + "self_attn.o_proj.weight", T.ATTN_OUT),
        rule(LAYER + "self_attn.q_norm.weight", T.ATTN_Q_NORM),
        rule(LAYER + "self_attn.k_norm.weight", T.ATTN_K_NORM),
        rule(LAYER + "post_attention_layernorm.weight", T.ATTN_POST_NORM),
        rule(LAYER + "mlp.gate_proj.weight", T.FFN_GATE),
        rule(LAYER + "mlp.up_proj.weight", T.FFN_UP),
        rule(LAYER + "mlp.down_proj.weight", T.FFN_DOWN),
        rule(LAYER + "post_feedforward_layernorm.weight", T.FFN_POST_NORM),
    ),
    write_metadata=write_metadata,
    ignored=ROPE_CACHES,
    check=check,
)
