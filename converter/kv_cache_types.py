"""The KV cache types llama.cpp offers the app, in one table: name, ggml type and size.

Plain data (no ``gguf`` import): the settings read it while the window starts, before the
heavy stacks are loaded. The figures are ggml's (``ggml.h`` type ids, ``GGML_QUANT_SIZES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class KvCacheType:
    name: str  # as settings, the CLI and llama.cpp's tools spell it ("q8_0")
    ggml_type_id: int  # GGML_TYPE_* in ggml.h, as llama_context_params.type_k/type_v take it
    block_elements: int
    block_bytes: int

    @property
    def bytes_per_element(self) -> float:
        """Bytes one cached value takes, its block's scales included (q8_0: 34 / 32)."""
        return self.block_bytes / self.block_elements


#: Name → type, in the order the settings list them (full precision first).
KV_CACHE_TYPES: Mapping[str, KvCacheType] = MappingProxyType(
    {
        kv.name: kv
        for kv in (
            KvCacheType("f16", ggml_type_id=1, block_elements=1, block_bytes=2),
            KvCacheType("q8_0", ggml_type_id=8, block_elements=32, block_bytes=34),
            KvCacheType("q4_0", ggml_type_id=2, block_elements=32, block_bytes=18),
        )
    }
)
