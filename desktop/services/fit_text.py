"""The fit badge in words: what the memory-fit planner predicts for a file on this machine.

Plain functions without Qt so they run in worker threads (reading headers touches the disk).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from converter.errors import QuantdeskError
from converter.storage import format_bytes

if TYPE_CHECKING:
    from desktop.engine.fit_planner import FitPlan
    from desktop.engine.hardware import HardwareInfo

VERDICT_WORDS = {
    "full_gpu": "Full GPU",
    "partial_gpu": "Partial GPU",
    "cpu_only": "CPU only",
    "wont_fit": "Will not fit",
}


def verdict_words(plan: FitPlan) -> str:
    """``"Partial GPU: 20 of 32 layers"``, ``"CPU only"``, ``"Will not fit"`` …"""
    words = VERDICT_WORDS[plan.verdict]
    if plan.verdict == "partial_gpu":
        words += f": {plan.gpu_layers} of {plan.total_layers} layers"
    return words


def describe_plan(plan: FitPlan) -> str:
    """``"Partial GPU: 20 of 32 layers · RAM 3.1 GiB · VRAM 5.2 GiB"``."""
    words = verdict_words(plan)
    memory = f"RAM {format_bytes(plan.ram_bytes)}"
    if plan.vram_bytes:
        memory += f" · VRAM {format_bytes(plan.vram_bytes)}"
    return f"{words} · {memory}"


def plan_for(
    path: Path, hardware: HardwareInfo | None, ctx_tokens: int, kv_type: str, sequences: int = 1
) -> FitPlan:
    """The fit of ``path`` on ``hardware`` (probed now if the app's probe has not finished),
    ``ctx_tokens`` in all for ``sequences`` replies at once."""
    from desktop.engine.fit_planner import plan_fit
    from desktop.engine.hardware import probe_hardware

    info = hardware or probe_hardware()
    return plan_fit(path, info, ctx_tokens=ctx_tokens, kv_type=kv_type, sequences=sequences)


def describe_fits(
    paths: Iterable[Path], hardware: HardwareInfo | None, ctx_tokens: int, kv_type: str
) -> dict[Path, str]:
    out: dict[Path, str] = {}
    for path in paths:
        try:
            out[path] = describe_plan(plan_for(path, hardware, ctx_tokens, kv_type))
        except QuantdeskError as exc:
            out[path] = f"unknown: {exc}"
    return out


def fit_together(
    paths: list[Path], hardware: HardwareInfo | None, ctx_tokens: int, kv_type: str
) -> bool:
    """Whether all ``paths`` are predicted to fit in memory at the same time."""
    if hardware is None:
        return False
    ram = vram = 0
    for path in paths:
        try:
            plan = plan_for(path, hardware, ctx_tokens, kv_type)
        except QuantdeskError:
            return False
        if plan.verdict == "wont_fit":
            return False
        ram += plan.ram_bytes
        vram += plan.vram_bytes or 0
    free_vram = sum(g.free_bytes for g in hardware.usable_gpus)
    return ram <= hardware.ram_available_bytes * 0.9 and vram <= free_vram * 0.9
