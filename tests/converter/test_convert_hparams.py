"""Config reading: configs written by older transformers, and generated rope tensors."""

from __future__ import annotations

import numpy as np

from converter.architectures.hparams import read_hparams
from converter.architectures.llama import llama3_rope_factors
from converter.architectures.transforms import RowTransform

#: The rope-related part of Meta-Llama-3.1-8B's config.json (transformers 4.x layout).
LLAMA_31_STYLE = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "torch_dtype": "bfloat16",
}

#: Gemma-3-1B's layout before transformers 5: local base and window pattern at the top level.
GEMMA3_1B_STYLE = {
    "architectures": ["Gemma3ForCausalLM"],
    "hidden_size": 1152,
    "intermediate_size": 6912,
    "num_hidden_layers": 26,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 256,
    "vocab_size": 262144,
    "rope_theta": 1000000.0,
    "rope_local_base_freq": 10000.0,
    "rope_scaling": None,
    "sliding_window": 512,
    "sliding_window_pattern": 6,
    "query_pre_attn_scalar": 256,
}


def test_older_llama_config() -> None:
    hp = read_hparams(LLAMA_31_STYLE)
    assert (hp.head_dim, hp.n_head_kv, hp.dtype) == (128, 8, "bfloat16")
    assert hp.rope.theta == 500000.0
    assert hp.rope.scaling_type == "llama3"
    assert hp.rope.params["original_max_position_embeddings"] == 8192


def test_older_gemma3_config() -> None:
    hp = read_hparams(GEMMA3_1B_STYLE)
    assert hp.rope.theta == 1000000.0
    assert hp.rope.theta_sliding == 10000.0
    assert hp.layer_types is not None
    full = [i for i, kind in enumerate(hp.layer_types) if kind == "full_attention"]
    assert full == [5, 11, 17, 23]  # every sixth layer is global, as in transformers


def test_llama3_rope_factors_match_transformers() -> None:
    import transformers
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    config = transformers.LlamaConfig(
        **{k: v for k, v in LLAMA_31_STYLE.items() if k != "architectures"}
    )
    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](config)
    base = 500000.0 ** -(np.arange(0, 128, 2, dtype=np.float64) / 128)
    expected = base / scaled.double().numpy()
    np.testing.assert_allclose(
        llama3_rope_factors(read_hparams(LLAMA_31_STYLE)), expected, rtol=1e-5
    )


def test_row_transforms_compose_in_order() -> None:
    first = RowTransform(row_order=np.array([2, 0, 1]), shift=1.0)
    second = RowTransform(row_order=np.array([1, 2, 0]), scale=3.0)
    rows = np.array([[10.0], [20.0], [30.0]], dtype=np.float32)
    both = first.then(second)
    assert both.row_order is not None
    step_one = first.apply(rows[first.row_order].copy())
    step_two = second.apply(step_one[second.row_order].copy())
    np.testing.assert_array_equal(both.apply(rows[both.row_order].copy()), step_two)
