"""The KV cache types llama.cpp offers the app, in one table: name, ggml type and size."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType


@dataclass(frozen=True, slots=True)
class KvCacheType:
    name: str  # as settings, the CLI and llama.cpp's tools spell it ("q8_0")
    ggml_type: GGMLQuantizationType

    @property
    def ggml_type_id(self) -> int:
        """``GGML_TYPE_*`` in ggml.h, as llama_context_params.type_k/type_v take it."""
        return int(self.ggml_type)

    @property
    def bytes_per_element(self) -> float:
        """Bytes one cached value takes, its block's scales included (q8_0: 34 / 32)."""
        block_size, block_bytes = GGML_QUANT_SIZES[self.ggml_type]
        return block_bytes / block_size


#: Name → type, in the order the settings list them (full precision first).
KV_CACHE_TYPES: Mapping[str, KvCacheType] = MappingProxyType(
    {
        kv.name: kv
        for kv in (
            KvCacheType("f16", GGMLQuantizationType.F16),
            KvCacheType("q8_0", GGMLQuantizationType.Q8_0),
            KvCacheType("q4_0", GGMLQuantizationType.Q4_0),
        )
    }
)
