"""Whether each compared file fits this machine, from the memory-fit planner.

The fit is planned for a chat-sized context (``FIT_CTX_TOKENS``), not for the short context
the quality measurement uses, because the question a comparison answers is which level to
chat with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from converter.errors import QuantdeskError

FIT_CTX_TOKENS = 4096


@dataclass(frozen=True, slots=True)
class FitSummary:
    verdict: str  # "full_gpu", "partial_gpu", "cpu_only", "wont_fit"
    gpu_layers: int
    ram_bytes: int
    vram_bytes: int
    explanation: str


def plan_fits(paths: Sequence[Path], ctx_tokens: int = FIT_CTX_TOKENS) -> list[FitSummary | None]:
    """One fit per file; None for a file the planner cannot size (its reason is not fatal here)."""
    from desktop.engine.fit_planner import plan_fit
    from desktop.engine.hardware import probe_hardware

    hardware = probe_hardware()
    fits: list[FitSummary | None] = []
    for path in paths:
        try:
            plan = plan_fit(path, hardware, ctx_tokens=ctx_tokens)
        except QuantdeskError:
            fits.append(None)
            continue
        fits.append(
            FitSummary(
                plan.verdict, plan.gpu_layers, plan.ram_bytes, plan.vram_bytes, plan.explanation
            )
        )
    return fits
