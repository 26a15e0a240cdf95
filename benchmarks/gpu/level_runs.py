"""The measurements made on one GGUF, each returning a JSON-ready dict for the results file.

* :func:`speed_both_ways`: full offload, the same settings through plain llama-cpp-python and
  through Quantdesk's worker, with the predicted and measured VRAM and the bandwidth ceiling;
* :func:`app_defaults`: what the app's own default settings choose on this machine;
* :func:`vram_case`: predicted vs measured VRAM (and llama.cpp's buffers) for one context,
  KV cache type and flash-attention setting;
* :func:`partial_offload`: the layer count the fit planner picks for a pretended VRAM budget,
  loaded for real.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from benchmarks.gpu.plain_speed import PlainSpeed, measure_plain, median
from benchmarks.gpu.vram import measure_vram
from benchmarks.gpu.worker_speed import measure_worker
from converter.kv_cache_types import KV_CACHE_TYPES
from converter.model_summary import read_gguf_summary
from desktop.engine.fit_planner import plan_fit
from desktop.engine.hardware import GpuInfo, HardwareInfo
from desktop.engine.memory_model import estimate_memory, kv_cache_bytes_per_layer
from desktop.engine.worker import LoadSettings


@dataclasses.dataclass(frozen=True, slots=True)
class SpeedPlan:
    ctx_tokens: int = 4096
    prompt_tokens: int = 512
    gen_tokens: int = 128
    repeats: int = 3
    threads: int | None = None  # None: llama.cpp's default on both sides


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def _plain_kwargs(plan: SpeedPlan, flash_attention: bool, gpu_layers: int = -1) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "n_ctx": plan.ctx_tokens,
        "n_batch": 512,
        "n_gpu_layers": gpu_layers,
        "flash_attn": flash_attention,
    }
    if plan.threads is not None:
        kwargs.update(n_threads=plan.threads, n_threads_batch=plan.threads)
    return kwargs


def full_offload_settings(plan: SpeedPlan, flash_attention: bool | None) -> LoadSettings:
    """The worker settings matching the plain run: every layer on the GPU."""
    return LoadSettings(
        ctx_tokens=plan.ctx_tokens,
        gpu_layers=-1,
        threads=plan.threads,
        flash_attention=flash_attention,
        batch_tokens=512,
    )


def bandwidth_ceiling(path: Path, bytes_per_second: float | None, position: int) -> dict[str, Any]:
    """Tokens/s if generating were only reading the GPU weights and the KV cache once."""
    summary = read_gguf_summary(path)
    full = estimate_memory(summary, ctx_tokens=position, n_gpu_layers=summary.n_layer + 1)
    weights = full.breakdown["weights_gpu"]
    kv = sum(kv_cache_bytes_per_layer(summary, n_ctx=position, kv_type="f16"))
    per_token = weights + kv
    return {
        "weights_gpu_bytes": weights,
        "kv_read_bytes": kv,
        "bytes_per_token": per_token,
        "kv_position": position,
        "ceiling_tg": bytes_per_second / per_token if bytes_per_second else None,
    }


def speed_both_ways(
    path: Path, plan: SpeedPlan, flash_attention: bool, bandwidth: float | None
) -> tuple[dict[str, Any], PlainSpeed]:
    """pp/tg through plain llama-cpp-python and through the worker, same settings."""
    summary = read_gguf_summary(path)
    plain = measure_plain(
        path,
        prompt_tokens=plan.prompt_tokens,
        gen_tokens=plan.gen_tokens,
        repeats=plan.repeats,
        **_plain_kwargs(plan, flash_attention),
    )
    settings = full_offload_settings(plan, flash_attention)
    worker = measure_worker(path, settings, [p.text for p in plain.prompts], plan.gen_tokens)
    predicted = estimate_memory(
        summary,
        ctx_tokens=plan.ctx_tokens,
        n_gpu_layers=summary.n_layer + 1,
        flash_attention=settings.flash_attention_on,
    )
    p, w = plain.to_json(), worker.to_json()
    ceiling = bandwidth_ceiling(path, bandwidth, plan.prompt_tokens + plan.gen_tokens // 2)
    result = {
        "file_bytes": path.stat().st_size,
        "flash_attention": flash_attention,
        "plain": p,
        "worker": w,
        "ratio_pp": ratio(w["pp"], p["generate_pp"]),
        "ratio_tg": ratio(w["tg"], p["generate_tg"]),
        "ratio_pp_vs_bench": ratio(w["pp"], p["bench_pp"]),
        "ratio_tg_vs_bench": ratio(w["tg"], p["bench_tg"]),
        "vram_predicted": predicted.vram_bytes,
        "vram_predicted_breakdown": _gpu_parts(predicted.breakdown),
        "vram_measured": w["vram_measured"],
        "ceiling": ceiling,
        "share_of_ceiling": ratio(w["tg"], ceiling["ceiling_tg"]),
    }
    return result, plain


def _gpu_parts(breakdown: Any) -> dict[str, int]:
    return {k: int(breakdown[k]) for k in ("weights_gpu", "kv_gpu", "compute_gpu", "gpu_context")}


def app_defaults(
    path: Path, hardware: HardwareInfo, texts: list[str], plan: SpeedPlan
) -> dict[str, Any]:
    """Load with the settings the chat view builds from a fresh settings file, and time briefly."""
    from desktop.services.app_settings import Settings

    saved = Settings()
    settings = LoadSettings(
        ctx_tokens=saved.sampling.context_tokens,
        kv_type=saved.kv_type,
        threads=saved.threads or None,
    )
    fit = plan_fit(path, hardware, ctx_tokens=settings.ctx_tokens, kv_type=settings.kv_type)
    worker = measure_worker(path, settings, texts[:2], min(plan.gen_tokens, 32))
    return {
        "settings": dataclasses.asdict(settings),
        "planner": {
            "verdict": fit.verdict,
            "gpu_layers": fit.gpu_layers,
            "total": fit.total_layers,
            "explanation": fit.explanation,
        },
        "worker": worker.to_json(),
        "total_layers": read_gguf_summary(path).n_layer + 1,
    }


def vram_case(path: Path, ctx_tokens: int, kv_type: str, flash_attention: bool) -> dict[str, Any]:
    """Full offload at this context / KV type / flash-attention: predicted vs measured."""
    summary = read_gguf_summary(path)
    predicted = estimate_memory(
        summary,
        ctx_tokens=ctx_tokens,
        kv_type=kv_type,
        n_gpu_layers=summary.n_layer + 1,
        flash_attention=flash_attention,
    )
    kv_id = KV_CACHE_TYPES[kv_type].ggml_type_id
    reading = measure_vram(
        path,
        n_ctx=ctx_tokens,
        n_batch=512,
        n_gpu_layers=-1,
        flash_attn=flash_attention,
        type_k=kv_id,
        type_v=kv_id,
    )
    return {
        "ctx": ctx_tokens,
        "kv_type": kv_type,
        "flash_attention": flash_attention,
        "predicted": predicted.vram_bytes,
        "predicted_breakdown": _gpu_parts(predicted.breakdown),
        "llama_gpu_buffers": {k: reading.gpu_buffer(k) for k in ("model", "KV", "compute")},
        "measured": reading.to_json(),
    }


def pretend_gpu(hardware: HardwareInfo, free_bytes: int) -> HardwareInfo:
    """This machine, but with one CUDA GPU that has ``free_bytes`` free."""
    gpu = GpuInfo(0, "pretended GPU", "CUDA", free_bytes, free_bytes)
    backends = tuple(dict.fromkeys((*hardware.offload.backends, "CUDA")))
    offload = dataclasses.replace(hardware.offload, supports_gpu_offload=True, backends=backends)
    return dataclasses.replace(hardware, gpus=(gpu,), offload=offload)


def partial_offload(
    path: Path, hardware: HardwareInfo, budget_bytes: int, ctx_tokens: int, texts: list[str]
) -> dict[str, Any]:
    """Plan for a card with ``budget_bytes`` free, load that many layers, compare."""
    pretended = pretend_gpu(hardware, budget_bytes)
    fit = plan_fit(path, pretended, ctx_tokens=ctx_tokens, flash_attention=False)
    reading = measure_vram(
        path, n_ctx=ctx_tokens, n_batch=512, n_gpu_layers=fit.gpu_layers, flash_attn=False
    )
    settings = LoadSettings(
        ctx_tokens=ctx_tokens, gpu_layers=fit.gpu_layers, flash_attention=False, batch_tokens=512
    )
    worker = measure_worker(path, settings, texts[:2], 32)
    measured = reading.measured
    return {
        "budget_bytes": budget_bytes,
        "ctx": ctx_tokens,
        "verdict": fit.verdict,
        "gpu_layers": fit.gpu_layers,
        "total_layers": fit.total_layers,
        "explanation": fit.explanation,
        "predicted": fit.vram_bytes,
        "predicted_breakdown": _gpu_parts(fit.estimate.breakdown),
        "measured": reading.to_json(),
        "within_budget": None if measured is None else measured <= budget_bytes,
        "worker_pp": median(worker.pp),
        "worker_tg": median(worker.tg),
        "worker_gpu_layers": worker.gpu_layers,
    }
