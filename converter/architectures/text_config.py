"""The language model's part of a config.json, with the defaults transformers would fill in.

A multimodal config.json (Gemma 3 4B and up) keeps the text model's hyper-parameters under
``text_config``, while flags of the whole model (embedding tying, the weights' dtype) stay at
the top level. transformers writes only the keys that differ from its config class's defaults,
so the real Gemma 3 4B ``text_config`` names six keys and leaves the head count, head size,
rope bases, window pattern and query scale to ``Gemma3TextConfig``'s defaults. Reading such a
config with generic fallbacks would build a different model; this module fills in the values
transformers itself uses, per ``model_type``, before anything reads the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

#: ``(names, value)``: ``value`` applies when the config sets none of ``names`` (older and
#: newer transformers spell some keys differently); it is recorded under the first name.
Defaults = tuple[tuple[tuple[str, ...], Any], ...]

#: ``Gemma3TextConfig``'s defaults (tests compare them with transformers' own).
GEMMA3_TEXT_DEFAULTS: Defaults = (
    (("vocab_size",), 262_208),
    (("hidden_size",), 2304),
    (("intermediate_size",), 9216),
    (("num_hidden_layers",), 26),
    (("num_attention_heads",), 8),
    (("num_key_value_heads",), 4),
    (("head_dim",), 256),
    (("max_position_embeddings",), 131_072),
    (("rms_norm_eps",), 1e-6),
    (("tie_word_embeddings",), True),
    (("query_pre_attn_scalar",), 256),
    (("sliding_window",), 4096),
    (("sliding_window_pattern", "_sliding_window_pattern"), 6),
    (("rope_theta",), 1_000_000.0),
    (("rope_local_base_freq",), 10_000.0),
)

#: Text ``model_type`` → the defaults of its transformers config class.
DEFAULTS_BY_MODEL_TYPE: Mapping[str, Defaults] = MappingProxyType(
    {"gemma3_text": GEMMA3_TEXT_DEFAULTS}
)

#: Multimodal ``model_type`` → the ``model_type`` of its text part, for a ``text_config``
#: that does not name its own (transformers' sub-config default).
TEXT_MODEL_TYPES: Mapping[str, str] = MappingProxyType({"gemma3": "gemma3_text"})

#: Keys of a multimodal config that describe the whole model and so override ``text_config``.
WHOLE_MODEL_KEYS: tuple[str, ...] = ("architectures", "tie_word_embeddings", "dtype", "torch_dtype")


def language_model_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The text model's keys of ``config`` (unwrapped from ``text_config``), defaults filled."""
    text = config.get("text_config")
    if isinstance(text, Mapping):
        outer_type = config.get("model_type")
        merged = {"model_type": TEXT_MODEL_TYPES.get(str(outer_type), outer_type), **text}
        merged.update({key: config[key] for key in WHOLE_MODEL_KEYS if key in config})
    else:
        merged = dict(config)
    for names, value in DEFAULTS_BY_MODEL_TYPE.get(str(merged.get("model_type")), ()):
        if not any(name in merged for name in names):
            merged[names[0]] = value
    return MappingProxyType(merged)
