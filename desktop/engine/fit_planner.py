"""Does a model fit this machine, and how many layers should go to the GPU?

The inference worker and the GUI call :func:`plan_fit` to choose ``n_gpu_layers``; the
comparison view calls :func:`predict_ladder` to show which quantization levels will fit before
anything is quantized. Budgets are the memory *available now* (not installed) minus a
headroom, because peers under-estimate and a model that does not fit gets killed or swaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from converter.levels import LEVELS, QuantLevel
from converter.model_summary import GGUFSummary, read_gguf_summary
from converter.quant_mix import predict_quantized_size, quantized_summary
from converter.storage import format_bytes
from desktop.engine.flash_attention import flash_attention_on
from desktop.engine.hardware import HardwareInfo
from desktop.engine.memory_model import MemoryEstimate, estimate_memory

Verdict = Literal["full_gpu", "partial_gpu", "cpu_only", "wont_fit"]
#: Share of available RAM / free VRAM kept free for the OS, the GUI and fragmentation.
DEFAULT_HEADROOM = 0.10


@dataclass(frozen=True, slots=True)
class FitPlan:
    verdict: Verdict
    gpu_layers: int  # the n_gpu_layers to pass to llama.cpp
    total_layers: int  # n_layer + 1 (the output layer counts as one)
    ram_bytes: int
    vram_bytes: int
    explanation: str
    estimate: MemoryEstimate


class LadderEntry(NamedTuple):
    level: QuantLevel
    size_bytes: int
    plan: FitPlan


def _budgets(hardware: HardwareInfo, headroom: float) -> tuple[int, int, bool]:
    """(RAM budget, VRAM budget, unified) for the GPUs this llama.cpp build can use."""
    ram = int(hardware.ram_available_bytes * (1 - headroom))
    gpus = hardware.usable_gpus
    vram = int(sum(g.free_bytes for g in gpus) * (1 - headroom))
    return ram, vram, any(g.unified_memory for g in gpus)


def _fits(estimate: MemoryEstimate, ram_budget: int, vram_budget: int, unified: bool) -> bool:
    if unified:  # Metal: GPU buffers come out of the same RAM
        return (
            estimate.vram_bytes <= vram_budget
            and estimate.ram_bytes + estimate.vram_bytes <= ram_budget
        )
    return estimate.ram_bytes <= ram_budget and estimate.vram_bytes <= vram_budget


def plan_fit(
    model: Path | GGUFSummary,
    hardware: HardwareInfo,
    *,
    ctx_tokens: int,
    kv_type: str = "f16",
    flash_attention: bool | None = None,
    headroom: float = DEFAULT_HEADROOM,
    sequences: int = 1,
) -> FitPlan:
    """Choose the placement that fits: everything on the GPU, as many layers as fit, CPU only.

    ``flash_attention`` None means the app's default, the switch the worker loads with
    (:func:`~desktop.engine.flash_attention.flash_attention_on`). ``ctx_tokens`` is the whole
    context, shared by ``sequences`` parallel slots.
    """
    summary = model if isinstance(model, GGUFSummary) else read_gguf_summary(model)
    fa = flash_attention_on(flash_attention)
    total = summary.n_layer + 1
    ram_budget, vram_budget, unified = _budgets(hardware, headroom)

    def estimate(layers: int) -> MemoryEstimate:
        return estimate_memory(
            summary,
            ctx_tokens=ctx_tokens,
            kv_type=kv_type,
            n_gpu_layers=layers,
            flash_attention=fa,
            sequences=sequences,
        )

    def plan(verdict: Verdict, layers: int, est: MemoryEstimate, why: str) -> FitPlan:
        return FitPlan(verdict, layers, total, est.ram_bytes, est.vram_bytes, why, est)

    cpu = estimate(0)
    if hardware.usable_gpus:
        # VRAM grows with every layer offloaded; find the most layers within the budget.
        low, high = 0, total
        while low < high:
            middle = (low + high + 1) // 2
            if estimate(middle).vram_bytes <= vram_budget:
                low = middle
            else:
                high = middle - 1
        best = estimate(low)
        if low == total and _fits(best, ram_budget, vram_budget, unified):
            used = f"{format_bytes(best.vram_bytes)} of {format_bytes(vram_budget)} usable"
            return plan("full_gpu", low, best, f"All {total} layers fit in GPU memory ({used}).")
        if low > 0 and _fits(best, ram_budget, vram_budget, unified):
            why = f"{low} of {total} layers fit on the GPU; the rest run on the CPU"
            return plan("partial_gpu", low, best, f"{why} ({format_bytes(best.ram_bytes)} of RAM).")
    if _fits(cpu, ram_budget, 0, False):
        gpu_words = (
            "no usable GPU" if not hardware.usable_gpus else "not even one layer fits the GPU"
        )
        used = f"{format_bytes(cpu.ram_bytes)} of {format_bytes(ram_budget)} usable RAM"
        return plan("cpu_only", 0, cpu, f"Runs on the CPU ({gpu_words}), using {used}.")
    need = f"Needs about {format_bytes(cpu.ram_bytes)} of RAM"
    have = f"only {format_bytes(ram_budget)} is usable"
    return plan("wont_fit", 0, cpu, f"{need} but {have}; pick a smaller level or shorter context.")


def predict_ladder(
    model: Path | GGUFSummary,
    hardware: HardwareInfo,
    *,
    ctx_tokens: int,
    kv_type: str = "f16",
    levels: tuple[QuantLevel, ...] = LEVELS,
    headroom: float = DEFAULT_HEADROOM,
    sequences: int = 1,
) -> list[LadderEntry]:
    """For an F16/BF16/F32 GGUF: each level's file size and fit, before quantizing anything
    (``ctx_tokens`` in all, shared by ``sequences`` parallel slots)."""
    summary = model if isinstance(model, GGUFSummary) else read_gguf_summary(model)
    entries = []
    for level in levels:
        quantized = quantized_summary(summary, level)
        plan = plan_fit(
            quantized,
            hardware,
            ctx_tokens=ctx_tokens,
            kv_type=kv_type,
            headroom=headroom,
            sequences=sequences,
        )
        entries.append(LadderEntry(level, predict_quantized_size(summary, level), plan))
    return entries


#: Parallel reply slots ``quantdesk serve`` tries by default, most first (llama.cpp's
#: server also defaults to 4).
PARALLEL_CHOICES = (4, 2, 1)


def plan_parallel(
    summary: GGUFSummary,
    hardware: HardwareInfo,
    *,
    ctx_tokens: int,
    kv_type: str = "f16",
    choices: tuple[int, ...] = PARALLEL_CHOICES,
) -> tuple[int, FitPlan]:
    """The most slots of ``ctx_tokens`` each whose KV cache fits as well as one slot does
    (no fewer layers on the GPU, and not from fitting to not fitting), with that plan."""
    single = plan_fit(summary, hardware, ctx_tokens=ctx_tokens, kv_type=kv_type)
    for slots in choices:
        if slots == 1:
            break
        plan = plan_fit(
            summary, hardware, ctx_tokens=ctx_tokens * slots, kv_type=kv_type, sequences=slots
        )
        if plan.verdict != "wont_fit" and plan.gpu_layers >= single.gpu_layers:
            return slots, plan
    return 1, single
