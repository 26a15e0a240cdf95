"""Gemma 3 configs as the hub has them are read as transformers reads them.

The hub's multimodal Gemma 3 configs name only what differs from ``Gemma3TextConfig``'s
defaults; the converter fills in the same defaults transformers does, and the hub offers for
conversion exactly the model types the converter's registry converts.
"""

from __future__ import annotations

from typing import Any

import pytest
import transformers

from converter.architectures.hparams import read_hparams
from converter.architectures.text_config import GEMMA3_TEXT_DEFAULTS
from converter.hub.repo_kind import is_supported, model_type_of


def hub_config(**text: Any) -> dict[str, Any]:
    """The shape of the hub's Gemma 3 4B/12B/27B config.json (vision part abridged)."""
    return {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "boi_token_index": 255999,
        "eoi_token_index": 256000,
        "eos_token_id": [1, 106],
        "image_token_index": 262144,
        "mm_tokens_per_image": 256,
        "model_type": "gemma3",
        "text_config": {
            "model_type": "gemma3_text",
            "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
            "sliding_window": 1024,
            **text,
        },
        "torch_dtype": "bfloat16",
        "vision_config": {"model_type": "siglip_vision_model", "image_size": 896, "patch_size": 14},
    }


HUB_CONFIGS = {
    "4b": hub_config(hidden_size=2560, intermediate_size=10240, num_hidden_layers=34),
    "12b": hub_config(
        hidden_size=3840,
        intermediate_size=15360,
        num_hidden_layers=48,
        num_attention_heads=16,
        num_key_value_heads=8,
    ),
    "27b": hub_config(
        head_dim=128,
        hidden_size=5376,
        intermediate_size=21504,
        num_attention_heads=32,
        num_hidden_layers=62,
        num_key_value_heads=16,
        query_pre_attn_scalar=168,
    ),
}


@pytest.mark.parametrize("size", list(HUB_CONFIGS))
def test_hub_configs_read_as_transformers_reads_them(size: str) -> None:
    config = HUB_CONFIGS[size]
    hp = read_hparams(config)
    reference = transformers.Gemma3Config(**config)
    text = reference.text_config
    full, local = text.rope_parameters["full_attention"], text.rope_parameters["sliding_attention"]
    assert (hp.n_layer, hp.n_embd, hp.n_ff) == (
        text.num_hidden_layers,
        text.hidden_size,
        text.intermediate_size,
    )
    assert (hp.n_head, hp.n_head_kv, hp.head_dim, hp.vocab_size) == (
        text.num_attention_heads,
        text.num_key_value_heads,
        text.head_dim,
        text.vocab_size,
    )
    assert (hp.context_length, hp.rms_eps) == (text.max_position_embeddings, text.rms_norm_eps)
    assert (hp.rope.theta, hp.rope.theta_sliding) == (full["rope_theta"], local["rope_theta"])
    assert (hp.rope.scaling_type, hp.rope.params["factor"]) == (full["rope_type"], full["factor"])
    assert local["rope_type"] == "default"
    assert hp.sliding_window == text.sliding_window
    assert hp.layer_types == tuple(text.layer_types)
    assert hp.get("query_pre_attn_scalar") == text.query_pre_attn_scalar
    assert hp.get("tie_word_embeddings") is reference.tie_word_embeddings is True
    assert hp.dtype == "bfloat16"


def test_the_defaults_are_transformers_own() -> None:
    reference = transformers.Gemma3TextConfig()
    rope = reference.rope_parameters
    own_names = {
        "rope_theta": rope["full_attention"]["rope_theta"],
        "rope_local_base_freq": rope["sliding_attention"]["rope_theta"],
        "sliding_window_pattern": reference._sliding_window_pattern,
    }
    for names, value in GEMMA3_TEXT_DEFAULTS:
        expected = own_names.get(names[0], getattr(reference, names[0], None))
        assert value == expected, names[0]


def test_the_hub_offers_what_the_converter_converts() -> None:
    assert is_supported("gemma3") and is_supported("gemma3_text")
    assert not is_supported("paligemma") and not is_supported(None)
    assert model_type_of({"architectures": ["Gemma3ForConditionalGeneration"]}) == "gemma3"
    assert model_type_of({"architectures": ["PaliGemmaForConditionalGeneration"]}) is None
    assert model_type_of(None, tags=("transformers", "gemma3", "image-text-to-text")) == "gemma3"
