"""The language model's part of a config.json, with the defaults transformers would fill in.

A multimodal config.json (Gemma 3 4B and up, Mistral Small 3.x, LLaVA) keeps the text model's
hyper-parameters under ``text_config``, while flags of the whole model (embedding tying, the
weights' dtype) stay at the top level. transformers writes only the keys that differ from its
config class's defaults, so the real Gemma 3 4B ``text_config`` names six keys and leaves the
head count, head size, rope bases, window pattern and query scale to ``Gemma3TextConfig``'s
defaults (LLaVA 1.5's names four). Reading such a config with generic fallbacks would build a
different model; this module fills in the values transformers itself uses, per ``model_type``,
before anything reads the config.
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

#: ``MistralConfig``'s defaults, the text model of Mistral Small 3.x and Pixtral (whose hub
#: ``text_config`` leaves out the head count). A ``text_config`` given as a dict gets these,
#: not the 24B values Mistral3Config uses only when ``text_config`` is missing altogether.
#: ``head_dim`` defaults to ``hidden_size / num_attention_heads`` as everywhere;
#: ``sliding_window`` is left out: llama.cpp's ``llama`` graph has no window either way.
MISTRAL_TEXT_DEFAULTS: Defaults = (
    (("vocab_size",), 32_000),
    (("hidden_size",), 4096),
    (("intermediate_size",), 14_336),
    (("num_hidden_layers",), 32),
    (("num_attention_heads",), 32),
    (("num_key_value_heads",), 8),
    (("max_position_embeddings",), 131_072),
    (("rms_norm_eps",), 1e-6),
    (("tie_word_embeddings",), False),
)

#: ``LlamaConfig``'s defaults (the 7B shape): LLaVA 1.5's ``text_config`` names little more
#: than its vocabulary and context.
LLAMA_TEXT_DEFAULTS: Defaults = (
    (("vocab_size",), 32_000),
    (("hidden_size",), 4096),
    (("intermediate_size",), 11_008),
    (("num_hidden_layers",), 32),
    (("num_attention_heads",), 32),
    (("max_position_embeddings",), 2048),
    (("rms_norm_eps",), 1e-6),
    (("tie_word_embeddings",), False),
)

#: Text ``model_type`` → the defaults of its transformers config class.
DEFAULTS_BY_MODEL_TYPE: Mapping[str, Defaults] = MappingProxyType(
    {
        "gemma3_text": GEMMA3_TEXT_DEFAULTS,
        "mistral": MISTRAL_TEXT_DEFAULTS,
        "llama": LLAMA_TEXT_DEFAULTS,
    }
)

#: Multimodal ``model_type`` → the ``model_type`` of its text part, for a ``text_config``
#: that does not name its own (transformers' sub-config default).
TEXT_MODEL_TYPES: Mapping[str, str] = MappingProxyType(
    {"gemma3": "gemma3_text", "mistral3": "mistral", "llava": "llama"}
)

#: Keys of a multimodal config that describe the whole model and so override ``text_config``.
WHOLE_MODEL_KEYS: tuple[str, ...] = ("architectures", "tie_word_embeddings", "dtype", "torch_dtype")

#: Multimodal ``model_type`` → whole-model keys its config.json states without describing the
#: weights. transformers 5's Mistral3Config defaults ``tie_word_embeddings`` to True and writes
#: it on every save, also for Mistral Small, which stores its own ``lm_head`` (transformers
#: unties the two when they differ). The text model's flag says what the weights are.
UNRELIABLE_WHOLE_MODEL_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"mistral3": ("tie_word_embeddings",)}
)


def language_model_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The text model's keys of ``config`` (unwrapped from ``text_config``), defaults filled."""
    text = config.get("text_config")
    if isinstance(text, Mapping):
        outer_type = config.get("model_type")
        merged = {"model_type": TEXT_MODEL_TYPES.get(str(outer_type), outer_type), **text}
        unreliable = UNRELIABLE_WHOLE_MODEL_KEYS.get(str(outer_type), ())
        whole_model = (key for key in WHOLE_MODEL_KEYS if key in config and key not in unreliable)
        merged.update({key: config[key] for key in whole_model})
    else:
        merged = dict(config)
    for names, value in DEFAULTS_BY_MODEL_TYPE.get(str(merged.get("model_type")), ()):
        if not any(name in merged for name in names):
            merged[names[0]] = value
    return MappingProxyType(merged)
