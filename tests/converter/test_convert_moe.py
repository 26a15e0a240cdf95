"""Mixture-of-experts checkpoints (Qwen3-MoE, Qwen2-MoE): experts stacked per layer, exact in
llama.cpp, quantized and run, sized correctly beforehand, and refused clearly when damaged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from converter.convert import convert_checkpoint, plan_conversion
from converter.errors import CheckpointError, UnsupportedArchitecture
from converter.gguf_header import read_gguf_header
from converter.levels import LEVELS
from converter.model_summary import read_gguf_summary
from converter.progress import run_job
from converter.quant_mix import predict_quantized_size, predict_tensor_types
from converter.quantize import quantize_ladder, resolve_level
from converter.quantize_plan import plan_quantization, read_source
from desktop.engine.memory_model import estimate_memory
from tests.converter.test_convert_memory import peak_rss_of_conversion
from tests.support.checkpoints import (
    build_checkpoint,
    greedy_runs,
    llama_cpp_logits,
    sample_token_ids,
    transformers_logits,
    write_streamed_checkpoint,
)
from tests.support.fit_measure import measure_llama_memory

F32_TOLERANCE = 1e-4  # F32 weights and KV cache: nothing rounded (measured: 0 to 1e-6)
TOKENS = 24
PROMPT_IDS = [464, 2068, 7586, 21831, 18045, 625, 262]
GENERATED_TOKENS = 4
#: Floors of the correlation of a level's next-token logits with the F16 model's (measured on
#: this model: Q4_K_M 0.984, Q8_0 0.9998).
MIN_CORRELATION = {"Q4_K_M": 0.97, "Q8_0": 0.999}
GGUF_EXPERTS = {
    "gate_proj": "ffn_gate_exps",
    "up_proj": "ffn_up_exps",
    "down_proj": "ffn_down_exps",
}
MIB = 1024**2


def _convert(folder: Path, out: Path, outtype: str | None = None) -> Path:
    return run_job(convert_checkpoint(folder, out, outtype=outtype)).path


@pytest.fixture(scope="module")
def qwen3_moe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny Qwen3-MoE checkpoint (4 experts, top 2) and its F16 GGUF."""
    folder = build_checkpoint("qwen3-moe", tmp_path_factory.mktemp("moe") / "qwen3-moe")
    return folder, _convert(folder, folder.parent / "out")


def test_experts_are_stacked_per_layer_and_routers_kept_f32(qwen3_moe: tuple[Path, Path]) -> None:
    folder, path = qwen3_moe
    weights = load_file(folder / "model.safetensors")
    reader = gguf.GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    for bid in range(2):
        layer = f"model.layers.{bid}.mlp."
        for proj, name in GGUF_EXPERTS.items():
            stacked = tensors[f"blk.{bid}.{name}.weight"]
            expected = np.stack([weights[f"{layer}experts.{x}.{proj}.weight"] for x in range(4)])
            assert stacked.tensor_type == gguf.GGMLQuantizationType.F16
            np.testing.assert_array_equal(np.asarray(stacked.data), expected.astype(np.float16))
        router = tensors[f"blk.{bid}.ffn_gate_inp.weight"]
        assert router.tensor_type == gguf.GGMLQuantizationType.F32
        np.testing.assert_array_equal(np.asarray(router.data), weights[layer + "gate.weight"])

    def field(key: str) -> Any:
        value = reader.get_field(f"qwen3moe.{key}")
        assert value is not None, key
        return value.contents()

    assert (field("expert_count"), field("expert_used_count")) == (4, 2)
    assert field("expert_feed_forward_length") == 256


@pytest.mark.parametrize("arch", ["qwen3-moe", "qwen2-moe"])
def test_f32_conversion_is_exact(arch: str, tmp_path: Path) -> None:
    """Exact in float32, whatever the routing: with 16-bit weights a token whose second and
    third experts are within rounding of each other can be routed differently (see CASES)."""
    folder = build_checkpoint(arch, tmp_path / arch)
    path = _convert(folder, tmp_path / "out", outtype="f32")
    ids = sample_token_ids(TOKENS, 32000)
    reference = transformers_logits(folder, ids)
    got = llama_cpp_logits(path, ids, f32_cache=True)
    errors = np.abs(reference - got).max(axis=1) / np.abs(reference).max(axis=1)
    assert errors.max() <= F32_TOLERANCE
    np.testing.assert_array_equal(got.argmax(axis=1), reference.argmax(axis=1))


def test_quantized_moe_loads_and_generates(qwen3_moe: tuple[Path, Path], tmp_path: Path) -> None:
    _folder, source = qwen3_moe
    written = run_job(quantize_ladder(source, ["Q4_K_M", "Q8_0"], out_dir=tmp_path, threads=2))
    types = {t.name: t.type_name for t in read_gguf_header(written[0].path).tensors}
    assert types["blk.0.ffn_gate_exps.weight"] == "Q4_K"
    assert types["blk.0.ffn_gate_inp.weight"] == "F32"
    paths = [source, *(file.path for file in written)]
    reference, *quantized = greedy_runs(paths, PROMPT_IDS, GENERATED_TOKENS)
    for file, result in zip(written, quantized, strict=True):
        assert len(result["tokens"]) == GENERATED_TOKENS
        assert all(0 <= t < result["n_vocab"] for t in result["tokens"])
        correlation = np.corrcoef(reference["logits"], result["logits"])[0, 1]
        assert correlation > MIN_CORRELATION[file.level], (file.level, correlation)


@pytest.mark.parametrize(
    ("arch", "experts"),
    [("qwen3-moe", 8), ("qwen2-moe", 4)],
    ids=["qwen3-moe-8-experts", "qwen2-moe-shared-expert"],
)
def test_predicted_quantized_sizes_match_llama_cpp(arch: str, experts: int, tmp_path: Path) -> None:
    """At every level; eight experts is the count llama.cpp's type rules single out, and Qwen2
    MoE's shared expert adds FFN tensors to the rules' per-layer counts."""
    folder = build_checkpoint(arch, tmp_path / arch, tokenizer="llama-spm", num_experts=experts)
    source = _convert(folder, tmp_path)
    model, summary = read_source(source), read_gguf_summary(source)
    written = run_job(quantize_ladder(source, [lv.name for lv in LEVELS], threads=2))
    for file in written:
        level = resolve_level(file.level)
        actual = {t.name: t.type_name for t in read_gguf_header(file.path).tensors}
        assert predict_tensor_types(summary, level) == actual, file.level
        size = file.size_bytes
        assert abs(predict_quantized_size(summary, level) - size) <= 0.001 * size, file.level
        alignment = read_gguf_header(file.path).alignment
        assert 0 <= plan_quantization(model, level).predicted_bytes - file.size_bytes <= alignment


def test_fit_matches_llama_cpp_buffers(qwen3_moe: tuple[Path, Path]) -> None:
    """Weights and KV cache as llama.cpp allocates them; the compute buffer an upper bound."""
    _folder, path = qwen3_moe
    summary = read_gguf_summary(path)
    assert summary.n_layer == 2 and summary.weight_bytes <= path.stat().st_size
    measured = measure_llama_memory(path, fill_tokens=512, n_ctx=512)
    parts = estimate_memory(path, ctx_tokens=512).breakdown
    log_rounding = 0.01 * MIB  # llama.cpp logs sizes to 0.01 MiB
    assert abs(parts["weights_cpu"] - measured.buffers["weights"]) <= log_rounding
    assert abs(parts["kv_cpu"] - measured.buffers["kv_cache"]) <= log_rounding
    assert measured.buffers["compute"] - log_rounding <= parts["compute_cpu"]
    assert parts["compute_cpu"] <= 1.4 * measured.buffers["compute"]


# --- damaged and unsupported checkpoints ------------------------------------------------


@pytest.fixture()
def copy_of(qwen3_moe: tuple[Path, Path], tmp_path: Path) -> Path:
    folder = tmp_path / "qwen3-moe"
    shutil.copytree(qwen3_moe[0], folder)
    return folder


def _edit_config(folder: Path, **values: Any) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    # Named as in the Hub's Qwen3-MoE configs (transformers 5 writes num_local_experts).
    config["num_experts"] = config.pop("num_local_experts", config.get("num_experts"))
    path.write_text(json.dumps({**config, **values}))


def test_missing_expert_is_named_and_nothing_is_written(copy_of: Path, tmp_path: Path) -> None:
    weights = load_file(copy_of / "model.safetensors")
    del weights["model.layers.1.mlp.experts.2.up_proj.weight"]
    save_file(weights, copy_of / "model.safetensors")
    out = tmp_path / "out"
    with pytest.raises(CheckpointError, match=r"lacks model\.layers\.1\.mlp\.experts\.2\.up_proj"):
        _convert(copy_of, out)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("experts", [8, 3])
def test_expert_count_must_match_the_tensors(copy_of: Path, experts: int) -> None:
    _edit_config(copy_of, num_experts=experts)
    with pytest.raises(CheckpointError, match=f"gives {experts} experts .* holds 4"):
        plan_conversion(copy_of)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"norm_topk_prob": False}, "always renormalises"),
        ({"mlp_only_layers": [1]}, "dense MLP layers"),
        ({"num_experts_per_tok": 5}, "5 used per token"),
    ],
)
def test_configs_llama_cpp_would_compute_differently_are_refused(
    copy_of: Path, values: dict[str, Any], message: str
) -> None:
    _edit_config(copy_of, **values)
    with pytest.raises((UnsupportedArchitecture, CheckpointError), match=message):
        plan_conversion(copy_of)


# --- streaming ----------------------------------------------------------------------------

STREAM_HIDDEN, STREAM_FF, STREAM_VOCAB = 256, 1024, 32000


def _moe_shapes(experts: int) -> dict[str, tuple[int, ...]]:
    layer = "model.layers.0."
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (STREAM_VOCAB, STREAM_HIDDEN),
        "model.norm.weight": (STREAM_HIDDEN,),
        "lm_head.weight": (STREAM_VOCAB, STREAM_HIDDEN),
        layer + "input_layernorm.weight": (STREAM_HIDDEN,),
        layer + "post_attention_layernorm.weight": (STREAM_HIDDEN,),
        layer + "self_attn.q_norm.weight": (64,),
        layer + "self_attn.k_norm.weight": (64,),
        layer + "mlp.gate.weight": (experts, STREAM_HIDDEN),
    }
    for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
        shapes[layer + f"self_attn.{proj}.weight"] = (STREAM_HIDDEN, STREAM_HIDDEN)
    for xid in range(experts):
        expert = layer + f"mlp.experts.{xid}."
        shapes[expert + "gate_proj.weight"] = (STREAM_FF, STREAM_HIDDEN)
        shapes[expert + "up_proj.weight"] = (STREAM_FF, STREAM_HIDDEN)
        shapes[expert + "down_proj.weight"] = (STREAM_HIDDEN, STREAM_FF)
    return shapes


def write_moe_checkpoint(folder: Path, experts: int) -> int:
    """A one-layer Qwen3-MoE F32 checkpoint written tensor by tensor; returns its data size."""
    config = {
        "architectures": ["Qwen3MoeForCausalLM"],
        "hidden_size": STREAM_HIDDEN,
        "intermediate_size": STREAM_FF,
        "moe_intermediate_size": STREAM_FF,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "head_dim": 64,
        "num_experts": experts,
        "num_experts_per_tok": 2,
        "norm_topk_prob": True,
        "vocab_size": STREAM_VOCAB,
        "dtype": "float32",
    }
    return write_streamed_checkpoint(folder, _moe_shapes(experts), config, "llama-spm")


def test_peak_memory_does_not_grow_with_the_expert_count(tmp_path: Path) -> None:
    """128 experts (as Qwen3-30B-A3B has) stack into 128 MiB float32 tensors; streaming them
    expert by expert keeps the peak where 8 experts put it."""
    few_bytes = write_moe_checkpoint(tmp_path / "few", experts=8)
    many_bytes = write_moe_checkpoint(tmp_path / "many", experts=128)
    assert many_bytes - few_bytes > 300 * MIB
    few_peak = peak_rss_of_conversion(tmp_path / "few", tmp_path / "out-few")
    many_peak = peak_rss_of_conversion(tmp_path / "many", tmp_path / "out-many")
    # Measured: no growth at all; assembling each stacked tensor in memory costs 40 MiB more.
    assert many_peak - few_peak < 16 * MIB, (few_peak / MIB, many_peak / MIB)
