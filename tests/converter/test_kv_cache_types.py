"""The KV cache table agrees with ggml's own type ids and block sizes."""

from __future__ import annotations

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from converter.kv_cache_types import KV_CACHE_TYPES


def test_kv_cache_types_match_ggml() -> None:
    for name, kv in KV_CACHE_TYPES.items():
        ggml_type = GGMLQuantizationType[name.upper()]
        assert kv.ggml_type_id == int(ggml_type)
        assert (kv.block_elements, kv.block_bytes) == GGML_QUANT_SIZES[ggml_type]
