"""Memory fit: header-only reading, KV and layer arithmetic, verdicts, and checks against the
real llama.cpp (its reported buffer sizes, the worker's RSS, the files its quantizer writes)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import llama_cpp
import pytest

from converter.gguf_header import GGUFHeaderError, read_gguf_header
from converter.levels import LEVELS, level
from converter.model_summary import read_gguf_summary
from converter.quant_mix import predict_quantized_size, predict_tensor_types
from desktop.engine.fit_planner import DEFAULT_HEADROOM, plan_fit, plan_parallel, predict_ladder
from desktop.engine.hardware import GpuInfo, HardwareInfo, probe_hardware
from desktop.engine.memory_model import PROCESS_BASELINE_BYTES, estimate_memory
from tests.support.fit_measure import measure_llama_memory, measure_session_peak
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf
from tests.support.quantize_reference import quantize_with_llama_cpp

MIB = 1024**2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("fit") / "tiny.gguf")


def _hardware(ram: int, vram: int | None) -> HardwareInfo:
    real = probe_hardware()
    gpus = () if vram is None else (GpuInfo(0, "Test GPU", "CUDA", vram, vram, "1", "8.9"),)
    backends = ("CPU", "CUDA") if gpus else ("CPU",)
    return replace(real, ram_available_bytes=ram, ram_total_bytes=ram, gpus=gpus,
                   offload=replace(real.offload, backends=backends))  # fmt: skip


def test_header_only_reading_survives_missing_tensor_data(tmp_path: Path, tiny: Path) -> None:
    cut = write_tiny_gguf(tmp_path / "cut.gguf", truncate_data=True)
    full, partial = read_gguf_summary(tiny), read_gguf_summary(cut)
    assert full.is_complete and not partial.is_complete
    assert partial.layer_bytes == full.layer_bytes and partial.n_vocab == 320
    assert estimate_memory(cut, ctx_tokens=2048) == estimate_memory(tiny, ctx_tokens=2048)
    header = read_gguf_header(tiny)
    assert header.header_bytes + header.data_bytes == tiny.stat().st_size


def test_damaged_files_give_clear_errors(tmp_path: Path, tiny: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(GGUFHeaderError, match="not a GGUF file"):
        read_gguf_header(text)
    short = tmp_path / "short.gguf"
    short.write_bytes(tiny.read_bytes()[:3000])
    with pytest.raises(GGUFHeaderError, match="incomplete or damaged"):
        read_gguf_header(short)


def test_kv_cache_by_hand(tiny: Path) -> None:
    # 2 layers x 1024 cells (1000 padded to 256) x 2 kv heads x (64 + 64) dims
    elements = 2 * 1024 * 2 * (64 + 64)
    for kv_type, element_bytes in (("f16", 2), ("q8_0", 34 / 32), ("q4_0", 18 / 32)):
        estimate = estimate_memory(tiny, ctx_tokens=1000, kv_type=kv_type, flash_attention=True)
        assert estimate.n_ctx == 1024
        assert estimate.breakdown["kv_cpu"] == round(elements * element_bytes)
    # the app's default switch (on) allows a quantized cache; switched off, llama.cpp refuses it
    assert estimate_memory(tiny, ctx_tokens=1000, kv_type="q8_0").breakdown["kv_cpu"] > 0
    with pytest.raises(ValueError, match="flash attention"):
        estimate_memory(tiny, ctx_tokens=1000, kv_type="q8_0", flash_attention=False)


def test_sliding_window_layers(tmp_path: Path) -> None:
    shape = TinyModelShape(n_layer=6, architecture="gemma3", sliding_window=512)
    summary = read_gguf_summary(write_tiny_gguf(tmp_path / "swa.gguf", shape))
    assert summary.swa_layers == (True, True, True, True, True, False)
    per_cell = 2 * (64 + 64) * 2
    full = estimate_memory(summary, ctx_tokens=8192, swa_full=True).breakdown["kv_cpu"]
    windowed = estimate_memory(summary, ctx_tokens=8192, swa_full=False).breakdown["kv_cpu"]
    assert full == 6 * 8192 * per_cell
    assert windowed == 5 * 1024 * per_cell + 8192 * per_cell  # 512 window + 512 ubatch


def test_output_layer_is_offloaded_first(tiny: Path) -> None:
    summary = read_gguf_summary(tiny)
    vram = [
        estimate_memory(summary, ctx_tokens=512, n_gpu_layers=k).breakdown["weights_gpu"]
        for k in range(4)
    ]
    assert vram[0] == 0
    assert vram[1] == summary.output_bytes
    assert vram[2] == summary.output_bytes + summary.layer_bytes[1]
    assert vram[3] == vram[2] + summary.layer_bytes[0]
    assert (
        estimate_memory(summary, ctx_tokens=512, n_gpu_layers=99).breakdown["weights_gpu"]
        == vram[3]
    )


def test_budget_for_exactly_k_layers_gives_k(tiny: Path) -> None:
    summary = read_gguf_summary(tiny)
    total = summary.n_layer + 1
    for k in range(1, total + 1):
        need = estimate_memory(summary, ctx_tokens=1024, n_gpu_layers=k).vram_bytes
        budget = int(need / (1 - DEFAULT_HEADROOM)) + 2
        plan = plan_fit(summary, _hardware(64 * 1024**3, budget), ctx_tokens=1024)
        assert plan.gpu_layers == k
        assert plan.verdict == ("full_gpu" if k == total else "partial_gpu")
        assert plan.vram_bytes <= budget


def test_verdicts_for_fake_budgets(tiny: Path) -> None:
    assert plan_fit(tiny, _hardware(64 * 1024**3, None), ctx_tokens=1024).verdict == "cpu_only"
    assert plan_fit(tiny, _hardware(16 * MIB, None), ctx_tokens=1024).verdict == "wont_fit"
    small_gpu = plan_fit(tiny, _hardware(64 * 1024**3, 64 * MIB), ctx_tokens=1024)
    assert small_gpu.verdict == "cpu_only" and "not even one layer" in small_gpu.explanation


def test_parallel_slots_need_their_kv_cache_to_fit(tiny: Path) -> None:
    summary = read_gguf_summary(tiny)
    ctx = 8192
    layers = summary.n_layer + 1
    one, four = (
        estimate_memory(summary, ctx_tokens=ctx * n, n_gpu_layers=layers).vram_bytes for n in (1, 4)
    )
    assert four > one
    roomy = _hardware(64 * 1024**3, int(four / (1 - DEFAULT_HEADROOM)) + 2)
    assert plan_parallel(summary, roomy, ctx_tokens=ctx)[0] == 4
    # room for everything with one slot, not with four: no layer is given up for slots
    tight = _hardware(64 * 1024**3, int(one / (1 - DEFAULT_HEADROOM)) + 2)
    slots, plan = plan_parallel(summary, tight, ctx_tokens=ctx)
    assert slots < 4 and plan.verdict == "full_gpu"
    assert plan_parallel(summary, _hardware(64 * 1024**3, None), ctx_tokens=ctx)[0] == 4


@pytest.mark.parametrize(
    ("kv_type", "flash"), [("f16", False), ("f16", True), ("q8_0", True), ("q4_0", True)]
)
def test_prediction_matches_llama_cpp_buffers_and_rss(
    tiny: Path, kv_type: str, flash: bool
) -> None:
    """llama.cpp's own buffer sizes are the reference for each part. The tiny model's RSS is
    dominated by fixed overhead, so there we check the predicted growth of the worker is an
    upper bound on the measured growth, and no more than 32 MiB above it."""
    ctx = 1024
    kv_id = {
        "f16": llama_cpp.GGML_TYPE_F16,
        "q8_0": llama_cpp.GGML_TYPE_Q8_0,
        "q4_0": llama_cpp.GGML_TYPE_Q4_0,
    }
    measured = measure_llama_memory(tiny, fill_tokens=ctx, n_ctx=ctx, flash_attn=flash,
                                    type_k=kv_id[kv_type], type_v=kv_id[kv_type])  # fmt: skip
    predicted = estimate_memory(tiny, ctx_tokens=ctx, kv_type=kv_type, flash_attention=flash)
    parts = predicted.breakdown
    log_rounding = 0.01 * MIB  # llama.cpp logs sizes to 0.01 MiB
    assert abs(parts["weights_cpu"] - measured.buffers["weights"]) <= log_rounding
    assert abs(parts["kv_cpu"] - measured.buffers["kv_cache"]) <= log_rounding
    assert measured.buffers["compute"] - log_rounding <= parts["compute_cpu"]
    assert parts["compute_cpu"] <= 1.4 * measured.buffers["compute"]
    predicted_growth = predicted.ram_bytes - PROCESS_BASELINE_BYTES
    assert measured.rss_added <= predicted_growth <= measured.rss_added + 32 * MIB


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the worker's peak RSS is read from /proc"
)


@linux_only
def test_ram_of_a_whole_session_is_the_process_plus_its_buffers(tiny: Path) -> None:
    """A tiny model's session is mostly the worker process itself: the fixed part of the
    prediction must be what the worker really holds, not a padded guess (which put the RAM
    figure ~40 MiB too high for every model)."""
    measured = measure_session_peak(tiny, ctx_tokens=2048, kv_type="q4_0")
    predicted = estimate_memory(tiny, ctx_tokens=2048, kv_type="q4_0", flash_attention=True)
    assert measured.prompt_tokens > 2000
    assert 0.95 * measured.peak_rss <= predicted.ram_bytes <= 1.10 * measured.peak_rss


@linux_only
def test_attention_without_flash_attention_costs_what_the_prediction_says(
    tmp_path: Path,
) -> None:
    """Without flash attention the CPU holds the attention scores (f32, in the compute buffer)
    and their f16 copy (in the CPU backend's work area, outside llama.cpp's buffers). With 8
    heads at 4k tokens that is ~100 MiB more than with flash attention, and the predicted
    difference must match the measured one."""
    model = write_tiny_gguf(tmp_path / "heads.gguf", TinyModelShape(n_head=8, n_head_kv=2))
    ctx = 4096
    peaks = {
        flash: measure_session_peak(model, ctx_tokens=ctx, kv_type="f16", flash_attention=flash)
        for flash in (False, True)
    }
    ram = {
        flash: estimate_memory(model, ctx_tokens=ctx, flash_attention=flash).ram_bytes
        for flash in (False, True)
    }
    measured = peaks[False].peak_rss - peaks[True].peak_rss
    predicted = ram[False] - ram[True]
    assert measured > 64 * MIB
    assert abs(predicted - measured) <= 0.1 * measured


@pytest.mark.parametrize(
    "shape",
    [
        TinyModelShape(n_layer=8),
        TinyModelShape(n_ff=384, n_layer=3),
        TinyModelShape(tied_embeddings=True, n_head=8, n_head_kv=2),
    ],
    ids=["8-layers", "rows-not-256", "tied-gqa4"],
)
def test_quantized_sizes_match_llama_cpp(tmp_path: Path, shape: TinyModelShape) -> None:
    source = write_tiny_gguf(tmp_path / "f16.gguf", shape)
    summary = read_gguf_summary(source)
    for lv in LEVELS:
        written = quantize_with_llama_cpp(source, tmp_path / f"{lv.name}.gguf", lv)
        actual_types = {t.name: t.type_name for t in read_gguf_header(written).tensors}
        assert predict_tensor_types(summary, lv) == actual_types, lv.name
        size = written.stat().st_size
        assert abs(predict_quantized_size(summary, lv) - size) <= 0.001 * size, lv.name


def test_ladder_before_quantizing(tiny: Path) -> None:
    ladder = predict_ladder(tiny, _hardware(64 * 1024**3, None), ctx_tokens=2048)
    assert [entry.level for entry in ladder] == list(LEVELS)
    sizes = {entry.level.name: entry.size_bytes for entry in ladder}
    assert sizes["Q2_K"] < sizes["Q4_K_M"] < sizes["Q8_0"] < tiny.stat().st_size
    assert all(entry.plan.verdict == "cpu_only" for entry in ladder)
    q8 = next(e for e in ladder if e.level == level("Q8_0"))
    assert q8.plan.estimate.breakdown["weights_cpu"] < read_gguf_summary(tiny).weight_bytes
