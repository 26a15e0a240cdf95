"""Row-reordered tensors copied in their stored encoding give the bytes of the float32 path.

Llama's ``attn_q``/``attn_k`` are only reordered (for llama.cpp's rope layout), so a bf16
checkpoint converted to BF16 moves their stored rows instead of widening and rounding them.
The expected bytes are computed here independently, from the checkpoint's own tensors, the
permutation as llama.cpp's converter defines it, and a float32 → bfloat16 rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import torch
from safetensors.torch import load_file

from converter.convert import convert_checkpoint
from converter.progress import run_job
from tests.support.checkpoints import build_checkpoint


def hf_to_llama_cpp_rope_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """Within each head, interleave the two halves of the rotated pairs (llama.cpp's layout)."""
    rows, cols = weight.shape
    return weight.reshape(heads, 2, rows // heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def bf16_round_trip(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bits → float32 → bfloat16 bits, rounding to nearest with ties to even."""
    wide = bits.astype(np.uint32) << 16
    lower = wide & 0xFFFF
    upper = wide >> 16
    round_up = (lower > 0x8000) | ((lower == 0x8000) & (upper & 1 == 1))
    return (upper + round_up).astype(np.uint16)


def test_bf16_query_key_reorder_matches_float32_round_trip(tmp_path: Path) -> None:
    folder = build_checkpoint("llama", tmp_path / "llama-bf16", dtype="bfloat16")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    written = run_job(convert_checkpoint(folder, tmp_path / "out", outtype="bf16"))
    source = load_file(folder / "model.safetensors")
    tensors = {t.name: t for t in gguf.GGUFReader(written.path).tensors}

    checked = 0
    for layer in range(config["num_hidden_layers"]):
        for gguf_kind, hf_kind, heads in (
            ("attn_q", "q_proj", config["num_attention_heads"]),
            ("attn_k", "k_proj", config["num_key_value_heads"]),
        ):
            hf_bits = source[f"model.layers.{layer}.self_attn.{hf_kind}.weight"]
            bits = hf_bits.view(torch.int16).numpy().view(np.uint16)
            expected = bf16_round_trip(hf_to_llama_cpp_rope_rows(bits, heads))
            assert not np.array_equal(expected, bits)  # the reorder is not a no-op here
            tensor = tensors[f"blk.{layer}.{gguf_kind}.weight"]
            assert tensor.tensor_type == gguf.GGMLQuantizationType.BF16
            got = np.asarray(tensor.data).view(np.uint16).reshape(expected.shape)
            assert got.tobytes() == expected.tobytes()
            checked += 1
    assert checked == 2 * config["num_hidden_layers"] > 0
