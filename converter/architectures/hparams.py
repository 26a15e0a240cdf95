"""One normalized view of a config.json, whichever transformers version wrote it.

Configs written before transformers 5 keep ``rope_theta`` and ``rope_scaling`` at the top level
(``"type"`` or ``"rope_type"``); newer ones keep ``rope_parameters``, which for models with
sliding-window layers is split into ``full_attention`` and ``sliding_attention``. Gemma 3 also
used ``rope_local_base_freq`` and ``sliding_window_pattern``. Everything downstream reads
:class:`HParams` and never the raw dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from converter.architectures.text_config import language_model_config
from converter.errors import CheckpointError

SLIDING = "sliding_attention"
FULL = "full_attention"


@dataclass(frozen=True, slots=True)
class RopeSettings:
    """Rotary embedding parameters of the full-attention layers (plus the local base)."""

    theta: float
    scaling_type: str  # "default", "linear", "yarn", "llama3", "longrope" …
    params: Mapping[str, Any]  # the scaling parameters as the config gives them
    theta_sliding: float | None  # local layers' base (Gemma 3), None when the same
    partial_rotary_factor: float


@dataclass(frozen=True, slots=True)
class HParams:
    """The hyper-parameters a conversion needs, with defaults resolved."""

    config: Mapping[str, Any]
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    vocab_size: int
    context_length: int
    rms_eps: float
    rope: RopeSettings
    tied_embeddings: bool
    sliding_window: int | None
    layer_types: tuple[str, ...] | None
    dtype: str  # torch dtype name of the stored weights: "bfloat16", "float16", "float32"
    n_expert: int = 0  # mixture-of-experts: experts per layer (0: a dense model)
    n_expert_used: int = 0  # experts each token is routed to

    def get(self, key: str, default: Any = None) -> Any:
        value = self.config.get(key)
        return default if value is None else value


def _rope_settings(config: Mapping[str, Any]) -> RopeSettings:
    parameters = config.get("rope_parameters") or config.get("rope_scaling") or {}
    local = parameters.get(SLIDING) if isinstance(parameters, Mapping) else None
    full = parameters.get(FULL, parameters) if isinstance(parameters, Mapping) else {}
    theta = full.get("rope_theta", config.get("rope_theta", 10000.0))
    theta_sliding = (local or {}).get("rope_theta", config.get("rope_local_base_freq"))
    scaling_type = str(full.get("rope_type", full.get("type", "default"))).lower()
    partial = full.get("partial_rotary_factor", config.get("partial_rotary_factor", 1.0))
    return RopeSettings(
        theta=float(theta),
        scaling_type=scaling_type,
        params=MappingProxyType(dict(full)),
        theta_sliding=float(theta_sliding) if theta_sliding is not None else None,
        partial_rotary_factor=float(partial),
    )


def _layer_types(config: Mapping[str, Any], n_layer: int) -> tuple[str, ...] | None:
    if isinstance(types := config.get("layer_types"), list) and len(types) == n_layer:
        return tuple(str(t) for t in types)
    pattern = config.get("sliding_window_pattern", config.get("_sliding_window_pattern"))
    if isinstance(pattern, int) and pattern > 0 and config.get("sliding_window"):
        return tuple(FULL if (i + 1) % pattern == 0 else SLIDING for i in range(n_layer))
    return None


def _torch_dtype(config: Mapping[str, Any]) -> str:
    name = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    return name.removeprefix("torch.")


def read_hparams(config: Mapping[str, Any]) -> HParams:
    """Normalize ``config``; a missing essential key is a :class:`CheckpointError`.

    A multimodal config is read for its language model (:mod:`.text_config`), so ``config``
    of the result holds the text model's keys with transformers' defaults filled in.
    """
    config = language_model_config(config)
    try:
        n_layer = int(config["num_hidden_layers"])
        n_embd = int(config["hidden_size"])
        n_head = int(config["num_attention_heads"])
        n_ff = int(config["intermediate_size"])
        vocab_size = int(config["vocab_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"config.json lacks a usable {exc} entry; the checkpoint is incomplete or not a "
            "decoder-only language model."
        ) from exc
    n_head_kv = int(config.get("num_key_value_heads") or n_head)
    head_dim = int(config.get("head_dim") or n_embd // n_head)
    sliding = config.get("sliding_window")
    return HParams(
        config=config,
        n_layer=n_layer,
        n_embd=n_embd,
        n_ff=n_ff,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim=head_dim,
        vocab_size=vocab_size,
        context_length=int(config.get("max_position_embeddings") or 4096),
        rms_eps=float(config.get("rms_norm_eps") or 1e-6),
        rope=_rope_settings(config),
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        sliding_window=int(sliding) if sliding else None,
        layer_types=_layer_types(config, n_layer),
        dtype=_torch_dtype(config),
        n_expert=_first_int(config, ("num_experts", "num_local_experts", "n_routed_experts")),
        n_expert_used=_first_int(config, ("num_experts_per_tok", "num_experts_per_token")),
    )


def _first_int(config: Mapping[str, Any], keys: tuple[str, ...]) -> int:
    """The first of ``keys`` the config sets (transformers renamed some over the years), or 0."""
    for key in keys:
        if isinstance(value := config.get(key), int) and not isinstance(value, bool):
            return value
    return 0
