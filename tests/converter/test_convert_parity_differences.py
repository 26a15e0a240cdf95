"""Where a converted GGUF differs from what llama.cpp's convert_hf_to_gguf.py writes, on purpose.

benchmarks/converter_parity.py runs the reference converter on every family and finds these
keys and tensors the only differences (its ``DELIBERATE`` table); each test here pins one of
them down and says why Quantdesk writes it its own way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from converter.convert import convert_checkpoint
from converter.gguf_header import read_gguf_header
from converter.progress import run_job
from tests.support.checkpoints import build_checkpoint


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("parity")
    paths = {}
    for arch, options in (
        ("phi3", {}),
        ("gemma3", {"query_pre_attn_scalar": 256}),
        ("llama", {}),
    ):
        folder = build_checkpoint(arch, root / arch, **options)
        paths[arch] = run_job(convert_checkpoint(folder, root / "out")).path
    return paths


def test_phi3_writes_its_sliding_window_like_the_reference(converted: dict[str, Path]) -> None:
    """Not a difference any more: 0 when the config has none (llama.cpp ignores it for phi3)."""
    metadata = read_gguf_header(converted["phi3"]).metadata
    assert metadata["phi3.attention.sliding_window"] == 0


def test_end_of_turn_token_is_recorded(converted: dict[str, Path]) -> None:
    """tokenizer.ggml.eot_token_id: the reference leaves it out for Phi-3; Quantdesk records
    <|end|> so that chat stops at the end of the model's turn."""
    metadata = read_gguf_header(converted["phi3"]).metadata
    assert metadata["tokenizer.ggml.eot_token_id"] == 32007  # <|end|>


def test_gemma3_records_its_layer_pattern(converted: dict[str, Path]) -> None:
    """gemma3.attention.sliding_window_pattern: without it llama.cpp assumes every sixth layer
    is global; the checkpoint's layer_types say otherwise (here every second)."""
    metadata = read_gguf_header(converted["gemma3"]).metadata
    assert metadata["gemma3.attention.sliding_window_pattern"] == (True, False)


def test_gemma3_query_scale_is_folded_into_the_query_norm(
    converted: dict[str, Path], tmp_path: Path
) -> None:
    """blk.N.attn_q_norm.weight: Gemma 3 scales queries by query_pre_attn_scalar ** -0.5 and
    llama.cpp by head_dim ** -0.5 (the 27B aside); the reference ignores the difference,
    Quantdesk multiplies the query norm by sqrt(head_dim / query_pre_attn_scalar) so that the
    logits match transformers (Google's 270M-12B have the two equal: no difference there)."""
    import gguf

    source = load_file(converted["gemma3"].parent.parent / "gemma3" / "model.safetensors")
    reader = gguf.GGUFReader(converted["gemma3"])
    q_norm = next(t for t in reader.tensors if t.name == "blk.0.attn_q_norm.weight")
    weight = source["model.layers.0.self_attn.q_norm.weight"].astype(np.float32)
    np.testing.assert_allclose(np.asarray(q_norm.data), (weight + 1) * np.sqrt(64 / 256))


def test_f16_has_no_quantization_version(converted: dict[str, Path]) -> None:
    """general.quantization_version: the reference writes it even for F16; Quantdesk only
    where there is quantized data (llama-quantize adds it)."""
    metadata = read_gguf_header(converted["llama"]).metadata
    assert "general.quantization_version" not in metadata
    assert "tokenizer.ggml.add_sep_token" not in metadata  # the reference writes false
