"""GGUF metadata shared by the decoder-only families, and the rope-scaling check.

Key names and value encodings come from gguf's writer methods; this module only decides which
config value feeds which key.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import gguf

from converter.architectures.hparams import HParams
from converter.errors import UnsupportedArchitecture

#: Rope scaling types each family's llama.cpp graph implements, and how the type is recorded.
#: ``None``: nothing to record (llama3 becomes a ``rope_freqs`` tensor instead).
ROPE_SCALING_TYPES: Mapping[str, gguf.RopeScalingType | None] = MappingProxyType(
    {
        "default": None,
        "linear": gguf.RopeScalingType.LINEAR,
        "yarn": gguf.RopeScalingType.YARN,
        "llama3": None,
        "longrope": gguf.RopeScalingType.LONGROPE,
        "su": gguf.RopeScalingType.LONGROPE,
    }
)


def check_rope_scaling(hp: HParams, allowed: tuple[str, ...]) -> None:
    """Refuse a rope scaling type llama.cpp would silently ignore for this family."""
    if hp.rope.scaling_type not in allowed:
        raise UnsupportedArchitecture(
            f"The checkpoint uses {hp.rope.scaling_type!r} rope scaling, which llama.cpp does "
            f"not implement for this architecture (supported: {', '.join(allowed)})."
        )


def write_common(writer: gguf.GGUFWriter, hp: HParams) -> None:
    """Sizes, attention shape, norm epsilon and rope base: what every family needs."""
    writer.add_vocab_size(hp.vocab_size)
    writer.add_context_length(hp.context_length)
    writer.add_embedding_length(hp.n_embd)
    writer.add_feed_forward_length(hp.n_ff)
    writer.add_block_count(hp.n_layer)
    writer.add_head_count(hp.n_head)
    writer.add_head_count_kv(hp.n_head_kv)
    writer.add_key_length(hp.head_dim)
    writer.add_value_length(hp.head_dim)
    writer.add_layer_norm_rms_eps(hp.rms_eps)
    writer.add_rope_freq_base(hp.rope.theta)
    writer.add_rope_dimension_count(int(hp.head_dim * hp.rope.partial_rotary_factor))
    write_rope_scaling(writer, hp)


def write_rope_scaling(writer: gguf.GGUFWriter, hp: HParams) -> None:
    scaling = ROPE_SCALING_TYPES.get(hp.rope.scaling_type)
    if scaling is None:
        return
    params = hp.rope.params
    writer.add_rope_scaling_type(scaling)
    if scaling in (gguf.RopeScalingType.LINEAR, gguf.RopeScalingType.YARN):
        writer.add_rope_scaling_factor(float(params["factor"]))
    if scaling is gguf.RopeScalingType.YARN:
        original = params.get("original_max_position_embeddings", hp.context_length)
        writer.add_rope_scaling_orig_ctx_len(int(original))
        for key, add in (
            ("beta_fast", writer.add_rope_scaling_yarn_beta_fast),
            ("beta_slow", writer.add_rope_scaling_yarn_beta_slow),
            ("attention_factor", writer.add_rope_scaling_yarn_attn_factor),
        ):
            if params.get(key) is not None:
                add(float(params[key]))


def write_sliding_window(writer: gguf.GGUFWriter, hp: HParams) -> None:
    """Window size and which layers use it, as a per-layer list llama.cpp reads directly."""
    if hp.sliding_window is None or hp.layer_types is None:
        return
    writer.add_sliding_window(hp.sliding_window)
    writer.add_sliding_window_pattern([t == "sliding_attention" for t in hp.layer_types])
