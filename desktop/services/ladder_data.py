"""The figures the ladder chart plots for one model: per level size, fit, speed and quality.

Plain Python (no Qt): it reads headers and measurement sidecars, so it runs in a worker.
Quality is only comparable against one reference, so the figures shown are those measured
against this model's full-precision file (F16/BF16/F32) when it is in the library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from converter.errors import QuantdeskError
from converter.levels import SOURCE_LEVELS
from converter.progress import CancelToken, Job
from desktop.engine.measure.measure_options import DEFAULT_MEASURE, MeasureOptions
from desktop.services import fit_text

if TYPE_CHECKING:
    from desktop.engine.hardware import HardwareInfo
    from desktop.engine.measure.quality import QualityResult
    from desktop.engine.measure.speed import SpeedResult
    from desktop.services.library import GgufFacts

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
    # Uncertainties as llama.cpp's perplexity tool reports them (0 when not measured).
    kl_error: float = 0.0
    same_top_error: float = 0.0
    perplexity_error: float = 0.0
    gen_stdev: float = 0.0  # spread of the timed generation runs, tokens/s

    @property
    def speed_unsteady(self) -> bool:
        """Whether the timed runs disagreed so much that the figure says more about what else
        the machine was doing than about the level (see :data:`UNSTEADY_SPREAD`)."""
        rate = self.gen_tokens_per_s
        return rate is not None and self.gen_stdev > UNSTEADY_SPREAD * rate

    @property
    def steady_speed(self) -> float | None:
        """The generation speed when measured and steady, else None."""
        return None if self.speed_unsteady else self.gen_tokens_per_s

    @property
    def quality_text(self) -> str:
        if self.is_reference:
            if self.perplexity is None:
                return "reference · not measured"
            return f"reference · PPL {self.perplexity:.2f} ± {self.perplexity_error:.2f}"
        if self.mean_kl is None or self.same_top is None:
            return "not measured"
        ppl = ""
        if self.perplexity is not None:
            ppl = f" · PPL {self.perplexity:.2f} ± {self.perplexity_error:.2f}"
        return (
            f"KL {self.mean_kl:.4f} ± {self.kl_error:.4f} · same top "
            f"{self.same_top:.1%} ± {self.same_top_error:.1%}{ppl}"
        )

    @property
    def speed_text(self) -> str:
        if self.gen_tokens_per_s is None:
            return "not measured"
        spread = f" ± {self.gen_stdev:.1f}" if self.gen_stdev else ""  # one run: no spread
        text = f"{self.gen_tokens_per_s:.1f}{spread} tokens/s"
        if self.speed_unsteady:
            text += " (unsteady: the machine was busy; measure again)"
        return text


def reference_of(files: Sequence[GgufFacts]) -> Path | None:
    """The group's full-precision file, the yardstick for quality."""
    sources = [f for f in files if f.level in _SOURCE_NAMES and not f.error]
    return sources[0].path if sources else None


def ladder_points(
    files: Sequence[GgufFacts], hardware: HardwareInfo | None, ctx_tokens: int, kv_type: str
) -> list[LadderPoint]:
    reference = reference_of(files)
    points = []
    for facts in files:
        if facts.error:
            continue
        speed, quality = _saved_figures(facts.path, reference)
        points.append(
            _point(facts.path, facts.level_label, facts.size_bytes, reference, speed, quality,
                   hardware, ctx_tokens, kv_type)
        )  # fmt: skip
    return points


def _saved_figures(
    path: Path, reference: Path | None
) -> tuple[SpeedResult | None, QualityResult | None]:
    """The figures a level shows: its last saved speed, and its quality against ``reference``
    (whatever the settings they were measured with)."""
    from desktop.engine.measure.results_cache import FileIdentity, load_cached_results

    reference_id = FileIdentity.of(reference) if reference is not None else None
    cached = load_cached_results(path)
    speed = cached.speed[-1] if cached.speed else None
    quality = next((q for key, q in cached.quality if key.reference == reference_id), None)
    return speed, quality


def _point(
    path: Path,
    level: str,
    size_bytes: int,
    reference: Path | None,
    speed: SpeedResult | None,
    quality: QualityResult | None,
    hardware: HardwareInfo | None,
    ctx_tokens: int,
    kv_type: str,
) -> LadderPoint:
    verdict, words = "", "unknown"
    if hardware is not None:
        try:
            plan = fit_text.plan_for(path, hardware, ctx_tokens, kv_type)
            verdict, words = str(plan.verdict), fit_text.describe_plan(plan)
        except QuantdeskError as exc:
            words = f"unknown: {exc}"
    return LadderPoint(
        path=path,
        level=level,
        size_bytes=size_bytes,
        verdict=verdict,
        fit_text=words,
        gen_tokens_per_s=None if speed is None else speed.gen_tokens_per_s,
        mean_kl=None if quality is None else quality.mean_kl,
        same_top=None if quality is None else quality.same_top,
        perplexity=None if quality is None else quality.perplexity,
        is_reference=path == reference,
        kl_error=0.0 if quality is None else quality.kl_error,
        same_top_error=0.0 if quality is None else quality.same_top_error,
        gen_stdev=0.0 if speed is None else speed.gen_stdev,
        perplexity_error=0.0 if quality is None else quality.perplexity_error,
    )


@dataclass(frozen=True, slots=True)
class MeasureRequest:
    """What the ladder's measurement runs on: a model's files and the user's choices."""

    files: tuple[GgufFacts, ...]
    hardware: HardwareInfo | None
    ctx_tokens: int  # for the fit verdicts, as on every other screen
    kv_type: str
    text_path: Path | None = None  # None: the bundled text
    options: MeasureOptions = DEFAULT_MEASURE  # the text comes from text_path

    @property
    def reference(self) -> Path | None:
        return reference_of(self.files)

    @property
    def candidates(self) -> list[Path]:
        return [f.path for f in self.files if not f.error and f.path != self.reference]


@dataclass(frozen=True, slots=True)
class MeasurePreview:
    """What pressing Measure would do: how many levels it measures, and the sentence saying so
    with the time it will take."""

    levels_to_measure: int
    text: str


def measure_preview(request: MeasureRequest) -> MeasurePreview:
    """Before starting: ``"Measuring 1 new level of 8, and again F16 (the reference the new
    level is compared with), takes about 40 s on this machine (…)."``

    The count is the measurement's own: the levels whose figures for these settings are not
    saved. A level whose saved figures the chart shows can be among them (measured with other
    settings, or the reference, whose distributions a new level needs), so those are named
    apart. Reads headers and sidecars, so call it off the GUI thread."""
    from converter.figures import span_text
    from desktop.engine.measure.eval_text import load_eval_text
    from desktop.engine.measure.level_comparison import plan_comparison
    from desktop.engine.measure.results_cache import cached_quality

    reference = request.reference
    if reference is None:
        return MeasurePreview(0, "")
    text = load_eval_text(request.text_path)
    plan = plan_comparison(
        reference, request.candidates, replace(request.options, text=text), with_fits=False
    )
    labels = {facts.path: facts.level_label for facts in request.files}
    new: list[str] = []
    again: list[str] = []
    for facts, work in zip(plan.facts, plan.work, strict=True):
        if work.idle:
            continue
        shown = any(figure is not None for figure in _saved_figures(facts.path, reference))
        (again if shown else new).append(labels.get(facts.path, facts.level))
    to_measure = len(new) + len(again)
    if to_measure == 0:
        return MeasurePreview(
            0, f"Every level is measured on {text.name}; the figures are saved beside the files."
        )
    settings = plan.quality_settings
    chunks = "all" if settings.max_chunks is None else f"up to {settings.max_chunks}"
    # the reference alone measured again, its own figures saved: only the new levels need it
    again_for_new = (
        again == [labels.get(reference, plan.facts[0].level)]
        and cached_quality(reference, plan.key) is not None
        and plan.speeds[0] is not None
    )
    what = _levels_to_measure_words(new, again, len(plan.facts), again_for_new=again_for_new)
    return MeasurePreview(
        to_measure,
        f"Measuring {what} takes about {span_text(plan.predicted_seconds)} on this machine "
        f"({chunks} chunks of {settings.ctx_tokens} tokens of {text.name}).",
    )


def _levels_to_measure_words(
    new: list[str], again: list[str], total: int, *, again_for_new: bool
) -> str:
    """``"1 new level of 8, and again F16 (the reference the new level is compared with),"``:
    the levels without saved figures, then those measured again; ``again_for_new`` when the
    only one measured again is the reference, for the new levels' sake."""
    if len(new) == total:
        what = f"the {total} levels"
    else:
        what = f"{len(new)} new level{'' if len(new) == 1 else 's'} of {total}" if new else ""
    if not again:
        return what
    if new and again_for_new:
        why = f"the reference the new level{'s are' if len(new) > 1 else ' is'} compared with"
    else:
        why = "measured before with other settings"
    again_words = f"again {', '.join(again)} ({why})"
    return f"{what}, and {again_words}," if new else again_words


def measure_ladder(
    request: MeasureRequest, cancel: CancelToken, on_point: Callable[[LadderPoint], None]
) -> Job[int]:
    """Measure the model's ladder; each level's point goes to ``on_point`` as soon as it is
    measured (or found in the cache). Returns the number of levels measured (not found in the
    cache)."""
    from desktop.engine.measure.eval_text import load_eval_text
    from desktop.engine.measure.level_comparison import LevelMeasurement, compare_files

    reference = request.reference
    if reference is None:
        raise MissingReference(
            "Quality is measured against the full-precision file (F16, BF16 or F32) of this "
            "model, and the library has none. Convert the checkpoint again, keeping the "
            "full-precision file, then measure."
        )
    text = load_eval_text(request.text_path)
    # "Q3_K_S calibrated" beside "Q3_K_S": the library's label tells the two apart.
    labels = {facts.path: facts.level_label for facts in request.files}

    def on_level(row: LevelMeasurement) -> None:
        on_point(
            _point(row.path, labels.get(row.path, row.level), row.facts.size_bytes, reference,
                   row.speed, row.quality, request.hardware, request.ctx_tokens, request.kv_type)
        )  # fmt: skip

    rows = yield from compare_files(
        reference, request.candidates, replace(request.options, text=text),
        cancel=cancel, on_level=on_level,
    )  # fmt: skip
    return sum(not row.cached for row in rows)


class MissingReference(QuantdeskError):
    """The model's full-precision file, the yardstick for quality, is not in the library."""


#: The recommendation rule, as the app shows it.
RECOMMENDATION_RULE = (
    "Recommended: the level with the best measured quality (lowest KL divergence) among those "
    "that fit entirely in the fastest memory and generate at least 70% as fast as the fastest "
    "of them; levels whose KL divergences lie within each other's error bars count as equal "
    "and the smaller file wins; full precision only when nothing else is measured. A speed whose "
    "timed runs disagree by more than a quarter (the machine was busy) is not compared."
)
#: A speed whose runs' standard deviation exceeds this share of it is unsteady: not compared.
UNSTEADY_SPREAD = 0.25
#: A level generating slower than this share of the fastest fitting level is not recommended.
MIN_SPEED_SHARE = 0.7


def best_fit(points: Sequence[LadderPoint]) -> LadderPoint | None:
    """The level :data:`RECOMMENDATION_RULE` picks, or None when nothing fits or no quality is
    measured."""
    fitting = [p for p in points if p.verdict in _VERDICT_RANK]
    if not fitting:
        return None
    tier = min(_VERDICT_RANK[p.verdict] for p in fitting)
    candidates = [p for p in fitting if _VERDICT_RANK[p.verdict] == tier]
    speeds = [speed for p in candidates if (speed := p.steady_speed) is not None]
    if speeds:
        floor = MIN_SPEED_SHARE * max(speeds)
        candidates = [p for p in candidates if (speed := p.steady_speed) is None or speed >= floor]
    measured = [p for p in candidates if not p.is_reference and p.mean_kl is not None]
    if not measured:
        references = [p for p in candidates if p.is_reference and p.perplexity is not None]
        return references[0] if references else None
    best = min(measured, key=lambda p: p.mean_kl or 0.0)
    equal = [p for p in measured if _within_error(p, best)]
    return min(equal, key=lambda p: p.size_bytes)


def _within_error(point: LadderPoint, best: LadderPoint) -> bool:
    """Whether ``point``'s KL divergence and the best one's overlap within their error bars."""
    assert point.mean_kl is not None and best.mean_kl is not None
    return point.mean_kl - point.kl_error <= best.mean_kl + best.kl_error
