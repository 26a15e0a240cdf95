"""The KV cache table and the file-type names agree with ggml and gguf-py."""

from __future__ import annotations

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from converter.kv_cache_types import KV_CACHE_TYPES


def test_kv_cache_types_match_ggml() -> None:
    for name, kv in KV_CACHE_TYPES.items():
        ggml_type = GGMLQuantizationType[name.upper()]
        assert kv.ggml_type_id == int(ggml_type)
        assert (kv.block_elements, kv.block_bytes) == GGML_QUANT_SIZES[ggml_type]


def test_file_types_name_the_catalogue_levels() -> None:
    from converter.levels import level_name_of_file_type

    assert level_name_of_file_type(15) == "Q4_K_M"
    assert level_name_of_file_type("15") == "Q4_K_M"  # as llama.cpp's metadata strings hold it
    assert level_name_of_file_type(0) == "F32"
    assert level_name_of_file_type(3) == "Q4_1"  # not offered, still named as llama.cpp names it
    assert level_name_of_file_type(None, "Q8_0") == "Q8_0"
    assert level_name_of_file_type(9999) == "unknown"
