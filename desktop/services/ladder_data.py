"""The figures the ladder chart plots for one model: per level size, fit, speed and quality.

Plain Python (no Qt): it reads headers and measurement sidecars, so it runs in a worker.
Quality is only comparable against one reference, so the figures shown are those measured
against this model's full-precision file (F16/BF16/F32) when it is in the library.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.errors import QuantdeskError
from converter.levels import SOURCE_LEVELS
from desktop.services import fit_text

_SOURCE_NAMES = frozenset(lv.name for lv in SOURCE_LEVELS)
#: Best first: a level that fits fully on the GPU beats one that needs the CPU.
_VERDICT_RANK = {"full_gpu": 0, "partial_gpu": 1, "cpu_only": 2}


@dataclass(frozen=True, slots=True)
class LadderPoint:
    path: Path
    level: str
    size_bytes: int
    verdict: str  # "full_gpu" … "wont_fit", or "" when unknown
    fit_text: str
    gen_tokens_per_s: float | None
    mean_kl: float | None
    same_top: float | None  # 0…1
    perplexity: float | None
    is_reference: bool

    @property
    def quality_text(self) -> str:
        if self.is_reference:
            if self.perplexity is None:
                return "reference · not measured"
            return f"reference · PPL {self.perplexity:.2f}"
        if self.mean_kl is None or self.same_top is None:
            return "not measured"
        ppl = f" · PPL {self.perplexity:.2f}" if self.perplexity is not None else ""
        return f"KL {self.mean_kl:.3g} · same top {self.same_top:.1%}{ppl}"

    @property
    def speed_text(self) -> str:
        return (
            "not measured"
            if self.gen_tokens_per_s is None
            else f"{self.gen_tokens_per_s:.1f} tokens/s"
        )


def reference_of(files: list[Any]) -> Path | None:
    """The group's full-precision file, the yardstick for quality."""
    sources = [f for f in files if f.level in _SOURCE_NAMES and not f.error]
    return sources[0].path if sources else None


def ladder_points(
    files: list[Any], hardware: Any, ctx_tokens: int, kv_type: str
) -> list[LadderPoint]:
    from desktop.engine.measure.results_cache import FileIdentity, load_cached_results

    reference = reference_of(files)
    reference_id = FileIdentity.of(reference) if reference is not None else None
    points = []
    for facts in files:
        if facts.error:
            continue
        cached = load_cached_results(facts.path)
        speed = cached.speed[-1].gen_tokens_per_s if cached.speed else None
        quality = next((q for key, q in cached.quality if key.reference == reference_id), None)
        verdict, words = "", "unknown"
        if hardware is not None:
            try:
                plan = fit_text.plan_for(facts.path, hardware, ctx_tokens, kv_type)
                verdict, words = str(plan.verdict), fit_text.describe_plan(plan)
            except QuantdeskError as exc:
                words = f"unknown: {exc}"
        points.append(
            LadderPoint(
                path=facts.path,
                level=facts.level,
                size_bytes=facts.size_bytes,
                verdict=verdict,
                fit_text=words,
                gen_tokens_per_s=speed,
                mean_kl=None if quality is None else quality.mean_kl,
                same_top=None if quality is None else quality.same_top,
                perplexity=None if quality is None else quality.perplexity,
                is_reference=facts.path == reference,
            )
        )
    return points


def best_fit(points: list[LadderPoint]) -> LadderPoint | None:
    """Best quality among the levels that fit, preferring a full-GPU fit over a CPU one.

    Quality: measured KL when known, else the bigger file (more bits keep more quality).
    """
    fitting = [p for p in points if p.verdict in _VERDICT_RANK]
    if not fitting:
        return None
    gpu_first = min(_VERDICT_RANK[p.verdict] for p in fitting)
    candidates = [p for p in fitting if _VERDICT_RANK[p.verdict] == gpu_first]
    return max(
        candidates,
        key=lambda p: (
            0.0 if p.is_reference else -(p.mean_kl if p.mean_kl is not None else 1e9),
            p.size_bytes,
        ),
    )
