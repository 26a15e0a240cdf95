"""Granite 3.x: the multipliers reach llama.cpp's keys, bad configs are refused before any
output exists, and a Q4_K_M quantization of a converted model loads and generates.

(Logits against transformers are in test_convert_logits's ``granite`` case.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from converter.architectures import BY_HF_CLASS, BY_MODEL_TYPE
from converter.architectures.granite import GRANITE, write_metadata
from converter.architectures.hparams import read_hparams
from converter.convert import convert_checkpoint
from converter.errors import UnsupportedArchitecture
from converter.hub.repo_kind import is_supported, model_type_of
from converter.progress import run_job
from converter.quantize import quantize_gguf
from tests.support.checkpoints import build_checkpoint, greedy_runs, sample_token_ids

#: What transformers does with each multiplier, and llama.cpp's key for it.
EXPECTED_KEYS = {
    "granite.embedding_scale": 12.0,
    "granite.residual_scale": 0.22,
    "granite.attention.scale": 0.015625,
    "granite.logit_scale": 8.0,
}
#: A Granite 3.x config.json as older hubs list it: no multipliers (transformers: 1.0 each).
BARE_CONFIG = {
    "architectures": ["GraniteForCausalLM"],
    "model_type": "granite",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 1,
    "num_attention_heads": 4,
    "vocab_size": 50257,
}
PROMPT_IDS = sample_token_ids(12, 32000)
GENERATED_TOKENS = 6
#: Q4_K_M's last-position logits against F16's (measured on this model: 0.999).
MIN_CORRELATION = 0.97


def _read_fields(path: Path) -> dict[str, Any]:
    reader = gguf.GGUFReader(path)
    return {name: field.contents() for name, field in reader.fields.items()}


@pytest.fixture(scope="module")
def granite_f16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = build_checkpoint("granite", tmp_path_factory.mktemp("granite") / "granite")
    return run_job(convert_checkpoint(folder, folder.parent / "out")).path


def test_multipliers_become_llama_cpp_keys(granite_f16: Path) -> None:
    fields = _read_fields(granite_f16)
    assert fields["general.architecture"] == "granite"
    for key, value in EXPECTED_KEYS.items():
        assert fields[key] == pytest.approx(value), key
    tensor_names = {t.name for t in gguf.GGUFReader(granite_f16).tensors}
    assert "output.weight" not in tensor_names  # tied: llama.cpp reuses token_embd


def test_missing_multipliers_are_written_as_transformers_defaults(tmp_path: Path) -> None:
    """llama.cpp's own default attention scale is 1/sqrt(head_dim); transformers' is 1."""
    path = tmp_path / "keys.gguf"
    writer = gguf.GGUFWriter(path, "granite")
    write_metadata(writer, read_hparams(BARE_CONFIG))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    fields = _read_fields(path)
    for key in EXPECTED_KEYS:
        assert fields[key] == 1.0, key


@pytest.mark.parametrize(
    "overrides",
    [
        {"embedding_multiplier": 0.0},
        {"residual_multiplier": 0},
        {"rope_scaling": {"rope_type": "linear", "factor": 2.0}},
    ],
    ids=["zero-embedding-multiplier", "zero-residual-multiplier", "linear-rope"],
)
def test_configs_llama_cpp_would_misread_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedArchitecture):
        GRANITE.check(read_hparams({**BARE_CONFIG, **overrides}))


def test_refused_before_any_output(tmp_path: Path) -> None:
    folder = build_checkpoint("granite", tmp_path / "zero", num_hidden_layers=1)
    config = (folder / "config.json").read_text()
    (folder / "config.json").write_text(
        config.replace('"logits_scaling": 8.0', '"logits_scaling": 0')
    )
    out = tmp_path / "out"
    with pytest.raises(UnsupportedArchitecture, match="logits_scaling"):
        run_job(convert_checkpoint(folder, out))
    assert not out.exists() or not any(out.iterdir())


def test_hub_repos_of_granite_are_supported() -> None:
    assert BY_HF_CLASS["GraniteForCausalLM"] is GRANITE
    assert BY_MODEL_TYPE["granite"] is GRANITE
    assert is_supported(model_type_of({"architectures": ["GraniteForCausalLM"]}))


def test_q4_k_m_loads_and_generates(granite_f16: Path, tmp_path: Path) -> None:
    written = run_job(quantize_gguf(granite_f16, "Q4_K_M", out_path=tmp_path, threads=2))
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(written.path).tensors}
    assert types["blk.0.attn_q.weight"] == "Q4_K"
    fields = _read_fields(written.path)
    for key, value in EXPECTED_KEYS.items():
        assert fields[key] == pytest.approx(value), key

    reference, quantized = greedy_runs([granite_f16, written.path], PROMPT_IDS, GENERATED_TOKENS)
    assert len(quantized["tokens"]) == GENERATED_TOKENS
    assert all(0 <= t < quantized["n_vocab"] for t in quantized["tokens"])
    correlation = np.corrcoef(reference["logits"], quantized["logits"])[0, 1]
    assert correlation > MIN_CORRELATION, correlation
