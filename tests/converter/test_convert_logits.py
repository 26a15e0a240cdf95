"""Converted GGUFs compute the same next-token logits in llama.cpp as the checkpoint does in
transformers (float32), for every supported architecture and its special features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from converter.convert import convert_checkpoint
from converter.progress import run_job
from converter.written import WrittenFile
from tests.support.checkpoints import (
    build_checkpoint,
    llama_cpp_logits,
    sample_token_ids,
    transformers_logits,
)

#: F16 weights: max |diff| per position ≤ 1% of that position's max |logit| (measured: ≤ 0.25%).
F16_TOLERANCE = 1e-2
#: F32 weights and an F32 KV cache: nothing is rounded to 16 bits (measured: < 1e-5).
F32_TOLERANCE = 1e-4
#: BF16 weights: llama.cpp's CPU BF16 matrix product rounds activations to bfloat16 too, which
#: costs about 0.7% (measured); the weights themselves are copied bit for bit (checked below).
BF16_TOLERANCE = 2e-2
TOKENS = 24

LLAMA3_ROPE = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,  # small, so the factors matter within 24 tokens
}
PHI3_LONGROPE = {
    "rope_type": "longrope",
    "long_factor": [1.0 + 0.1 * i for i in range(32)],
    "short_factor": [1.0 + 0.05 * i for i in range(32)],
}

#: id → (architecture, build_checkpoint keyword arguments)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "llama-spm": ("llama", {}),
    "llama3-rope-scaling": ("llama", {"tokenizer": "gpt-2", "rope_scaling": LLAMA3_ROPE}),
    "mistral": ("mistral", {}),
    "qwen2": ("qwen2", {}),
    "qwen3": ("qwen3", {}),
    "phi3": ("phi3", {}),
    "phi3-longrope": (
        "phi3",
        {"rope_scaling": PHI3_LONGROPE, "original_max_position_embeddings": 256},
    ),
    "qwen3-moe": ("qwen3-moe", {}),
    # With seed 0 one token's router logits for its second and third experts differ by 0.0007
    # in transformers, within 16-bit rounding, so the F16 model routes it to the other expert (a
    # 13% jump in its logits). That is routing, not conversion: F32 of seed 0 is exact (see
    # test_convert_moe).
    "qwen2-moe": ("qwen2-moe", {"seed": 1}),
    "gemma2": ("gemma2", {}),
    "gemma3": ("gemma3", {}),
    "gemma3-untied-sharded": ("gemma3", {"tied": False, "shards": 3}),
    # Gemma 3 4B-27B scale the global layers' rope linearly (factor 8), not the local ones.
    "gemma3-rope-linear": ("gemma3", {"rope_scaling": {"rope_type": "linear", "factor": 8.0}}),
    "granite": ("granite", {}),
    "olmo2": ("olmo2", {}),
}


def relative_errors(reference: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Per position: max |difference| relative to the reference's max |logit|."""
    return np.abs(reference - got).max(axis=1) / np.abs(reference).max(axis=1)


def assert_same_best_tokens(reference: np.ndarray, got: np.ndarray, tolerance: float) -> None:
    """``got`` picks the reference's best token wherever the reference's best two lie further
    apart than ``tolerance`` (relative to its max |logit|), which is most positions; where
    they lie closer, rounding may pick either, but only a token the reference scores within
    the tolerance of its best. (On a random model one such near tie, in 24 positions, went
    one way with AVX-512 kernels and the other with AVX2.)"""
    scale = tolerance * np.abs(reference).max(axis=1)
    top2 = np.sort(reference, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > scale
    assert clear.sum() >= len(reference) // 2
    np.testing.assert_array_equal(got.argmax(axis=1)[clear], reference.argmax(axis=1)[clear])
    picked = reference[np.arange(len(reference)), got.argmax(axis=1)]
    assert np.all(top2[:, 1] - picked <= scale)


def convert(folder: Path, out: Path, outtype: str | None = None) -> WrittenFile:
    return run_job(convert_checkpoint(folder, out, outtype=outtype))


@pytest.mark.parametrize("case", list(CASES))
def test_f16_logits_match_transformers(case: str, tmp_path: Path) -> None:
    arch, options = CASES[case]
    folder = build_checkpoint(arch, tmp_path / case, **options)
    written = convert(folder, tmp_path / "out")
    assert written.path == tmp_path / "out" / f"{case}-F16.gguf"
    assert written.level == "F16"

    ids = sample_token_ids(TOKENS, 32000)
    reference = transformers_logits(folder, ids)
    got = llama_cpp_logits(written.path, ids)

    assert got.shape == reference.shape
    assert relative_errors(reference, got).max() <= F16_TOLERANCE
    assert_same_best_tokens(reference, got, F16_TOLERANCE)


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint(
        "qwen2", tmp_path_factory.mktemp("bf16") / "qwen-bf16", dtype="bfloat16"
    )


def test_bf16_checkpoint_to_f32_is_exact(bf16_checkpoint: Path, tmp_path: Path) -> None:
    written = convert(bf16_checkpoint, tmp_path, outtype="f32")
    assert written.level == "F32"
    ids = sample_token_ids(TOKENS, 32000)
    reference = transformers_logits(bf16_checkpoint, ids)
    got = llama_cpp_logits(written.path, ids, f32_cache=True)
    assert relative_errors(reference, got).max() <= F32_TOLERANCE
    np.testing.assert_array_equal(got.argmax(axis=1), reference.argmax(axis=1))


def test_bf16_checkpoint_defaults_to_bf16_copied_bit_for_bit(
    bf16_checkpoint: Path, tmp_path: Path
) -> None:
    written = convert(bf16_checkpoint, tmp_path)
    assert written.path.name == "qwen-bf16-BF16.gguf"
    source = load_file(bf16_checkpoint / "model.safetensors")
    tensors = {t.name: t for t in gguf.GGUFReader(written.path).tensors}
    embedding = tensors["token_embd.weight"]
    assert embedding.tensor_type == gguf.GGMLQuantizationType.BF16
    expected = source["model.embed_tokens.weight"].view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(np.asarray(embedding.data).view(np.uint16), expected)

    ids = sample_token_ids(TOKENS, 32000)
    reference = transformers_logits(bf16_checkpoint, ids)
    got = llama_cpp_logits(written.path, ids)
    assert relative_errors(reference, got).max() <= BF16_TOLERANCE
    assert_same_best_tokens(reference, got, BF16_TOLERANCE)


def test_f32_output_is_exact(tmp_path: Path) -> None:
    folder = build_checkpoint(
        "llama", tmp_path / "llama", tokenizer="gpt-2", rope_scaling=LLAMA3_ROPE
    )
    written = convert(folder, tmp_path / "out", outtype="f32")
    ids = sample_token_ids(TOKENS, 32000)
    reference = transformers_logits(folder, ids)
    got = llama_cpp_logits(written.path, ids, f32_cache=True)
    assert relative_errors(reference, got).max() <= F32_TOLERANCE
    np.testing.assert_array_equal(got.argmax(axis=1), reference.argmax(axis=1))
