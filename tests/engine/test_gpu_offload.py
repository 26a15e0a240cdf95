"""GPU offload on an NVIDIA GPU with a CUDA build of llama-cpp-python (skipped elsewhere).

The model is a random-weight llama of about 1 GB: big enough that the CUDA context does not
dominate its VRAM, small enough to write in seconds. VRAM is measured as the device's used
memory before and after a child process loads the model, which counts the CUDA context
too, as the fit's prediction does.
"""

from __future__ import annotations

import multiprocessing.resource_tracker
from pathlib import Path
from typing import Any

import pytest

from benchmarks.gpu.level_runs import pretend_gpu
from benchmarks.gpu.plain_speed import worker_tokens
from benchmarks.gpu.vram import measure_vram
from converter.child_process import run_in_child
from desktop.engine.fit_planner import plan_fit
from desktop.engine.hardware import HardwareInfo, probe_hardware
from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

GIB = 1024**3
HARDWARE = probe_hardware()
CUDA_OFFLOAD = HARDWARE.offload.supports_gpu_offload and any(
    gpu.kind == "CUDA" for gpu in HARDWARE.usable_gpus
)
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not CUDA_OFFLOAD,
        reason="needs an NVIDIA GPU and llama-cpp-python built with CUDA "
        f"({HARDWARE.gpu_note or 'backends: ' + ', '.join(HARDWARE.offload.backends)})",
    ),
]
#: About 1 GB in F16: 8 layers of 2048, vocabulary 32000.
SMALL = TinyModelShape(n_layer=8, n_embd=2048, n_head=16, n_head_kv=8, n_ff=5632, n_vocab=32000)
CTX = 4096
#: The prediction must be this close to the measured VRAM.
TOLERANCE = 0.10


@pytest.fixture(scope="module", autouse=True)
def resource_tracker_started() -> None:
    """Started before the first test, so that conftest does not count it as a leaked child."""
    multiprocessing.resource_tracker.ensure_running()


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gpu") / "small.gguf", SMALL)


def test_probe_sees_the_gpu_and_cuda_offload() -> None:
    cuda = [gpu for gpu in HARDWARE.gpus if gpu.kind == "CUDA"]
    assert cuda and cuda[0].total_bytes > 8 * GIB and cuda[0].free_bytes > 0
    assert cuda[0].compute_capability and cuda[0].driver_version
    assert "CUDA" in HARDWARE.offload.backends and HARDWARE.offload.supports_gpu_offload
    assert HARDWARE.reinstall_hint() is None


def test_full_offload_verdict_and_measured_vram_match_the_prediction(small_model: Path) -> None:
    plan = plan_fit(small_model, HARDWARE, ctx_tokens=CTX)
    assert plan.verdict == "full_gpu"
    assert plan.gpu_layers == plan.total_layers == SMALL.n_layer + 1
    # the verdict predicts for the app's default switch, flash attention on
    reading = measure_vram(small_model, n_ctx=CTX, n_gpu_layers=plan.gpu_layers, flash_attn=True)
    assert reading.measured is not None
    assert reading.gpu_buffer("model") > 0.9 * plan.estimate.breakdown["weights_gpu"]
    error = abs(plan.vram_bytes - reading.measured) / reading.measured
    assert error <= TOLERANCE, (
        f"predicted {plan.vram_bytes / GIB:.3f} GiB, measured {reading.measured / GIB:.3f} GiB "
        f"(llama.cpp buffers {reading.buffers}, CUDA context {reading.context_overhead})"
    )


def test_partial_offload_stays_within_a_smaller_card(small_model: Path) -> None:
    full = plan_fit(small_model, HARDWARE, ctx_tokens=CTX)
    budget = int(full.vram_bytes * 0.7)  # a card with 70 % of what the whole model needs
    plan = plan_fit(small_model, pretend_gpu(HARDWARE, budget), ctx_tokens=CTX)
    assert plan.verdict == "partial_gpu" and 0 < plan.gpu_layers < plan.total_layers
    # the verdict predicts for the app's default switch, flash attention on
    reading = measure_vram(small_model, n_ctx=CTX, n_gpu_layers=plan.gpu_layers, flash_attn=True)
    assert reading.measured is not None and reading.measured <= budget
    assert abs(plan.vram_bytes - reading.measured) / reading.measured <= TOLERANCE


def _plain_greedy(
    emit: Any, path: str, prompt: str, count: int, flash_attn: bool
) -> tuple[list[int], str]:
    """llama-cpp-python's own greedy tokens on the GPU, made text as the worker makes it.

    Same context, batch and attention kernel as the worker: random weights leave near-ties in
    the logits, and flash attention's different rounding flips one of them within 16 tokens.
    """
    import llama_cpp
    from llama_cpp import Llama

    from desktop.engine.worker.generation import TextStream, TokenPieces

    llm = Llama(path, n_ctx=512, n_batch=512, n_gpu_layers=-1, flash_attn=flash_attn, verbose=False)
    try:
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        tokens: list[int] = []
        for token in llm.generate(list(worker_tokens(llm, prompt)), top_k=1, temp=0.0):
            if llama_cpp.llama_vocab_is_eog(vocab, token) or len(tokens) == count:
                break
            tokens.append(token)
        stream = TextStream(TokenPieces(vocab), ())
        text = "".join(stream.push(t) for t in tokens) + stream.flush()
    finally:
        llm.close()
    return tokens, text


def test_worker_offloads_by_default_and_generates_like_llama_cpp(small_model: Path) -> None:
    prompt = "a b c d e f g h"
    with InferenceWorker() as worker:
        info = worker.load(small_model, LoadSettings(ctx_tokens=512))
        assert info.gpu_layers == SMALL.n_layer + 1, info.notes
        assert info.flash_attention, "flash attention is the default once layers are offloaded"
        reply = worker.complete(
            prompt, SamplingSettings.greedy(max_tokens=16), on_token=lambda _piece: None
        )
    tokens, text = run_in_child(
        _plain_greedy,
        str(small_model),
        prompt,
        16,
        info.flash_attention,
        what="llama-cpp-python on the GPU",
    )
    assert reply.generated_tokens == len(tokens) > 0
    assert reply.text == text
    assert reply.generation_tokens_per_second > 0


def test_hardware_round_trips_through_json() -> None:
    """The GPU facts survive the JSON the benchmark stores them in."""
    assert HardwareInfo.from_json(HARDWARE.to_json()) == HARDWARE
