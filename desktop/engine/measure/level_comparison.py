"""Compare quantization levels of one model: size, fit, speed and quality, as one Job.

The first file is the reference (full precision). Each file is measured in its own child
process, one after the other, so only one model is loaded at a time: the reference first
(quality pass 1, which fills the on-disk reference store, then speed), then each candidate
(quality pass 2 against the store, then speed). Results already cached beside a file for
the same settings are reused, and new ones are cached there.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from converter.errors import OutputError
from converter.progress import CancelToken, Job, Progress
from desktop.engine.measure import results_cache
from desktop.engine.measure.child_job import child_job
from desktop.engine.measure.eval_text import EvalText, as_eval_text
from desktop.engine.measure.file_facts import FileFacts, read_file_facts
from desktop.engine.measure.fit_summary import FitSummary, plan_fits
from desktop.engine.measure.quality import (
    QualityResult,
    QualitySettings,
    candidate_pass,
    check_same_vocabulary,
    reference_pass,
)
from desktop.engine.measure.results_cache import FileIdentity, QualityKey
from desktop.engine.measure.speed import SpeedResult, SpeedSettings, benchmark_model


@dataclass(frozen=True, slots=True)
class LevelMeasurement:
    """One row of a comparison. The reference's own row has KL 0 and same-top 1 by definition
    (its perplexity is measured in pass 1, from the exact logits)."""

    facts: FileFacts
    is_reference: bool
    fit: FitSummary | None  # None when the planner could not size the file
    speed: SpeedResult | None
    quality: QualityResult | None
    cached: bool  # True when every figure came from the cache

    @property
    def path(self) -> Path:
        return self.facts.path

    @property
    def level(self) -> str:
        return self.facts.level

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": str(self.facts.path),
            "level": self.facts.level,
            "reference": self.is_reference,
            "size_bytes": self.facts.size_bytes,
            "parameters": self.facts.parameters,
            "bits_per_weight": self.facts.bits_per_weight,
            "architecture": self.facts.architecture,
            "fit": None if self.fit is None else asdict(self.fit),
            "speed": None,
            "quality": None if self.quality is None else asdict(self.quality),
            "cached": self.cached,
        }
        if self.speed is not None:
            data["speed"] = asdict(self.speed)
        return data


def _measure_file(
    emit: Callable[[Any], None],
    path: Path,
    quality_step: str | None,
    text: EvalText,
    quality_settings: QualitySettings,
    store_folder: Path,
    speed_settings: SpeedSettings | None,
) -> tuple[QualityResult | None, SpeedResult | None]:
    """Child process: the quality pass ``quality_step`` ("reference", "candidate" or None),
    then the speed benchmark when ``speed_settings`` is given. One model at a time."""
    quality = None
    if quality_step == "reference":
        quality = reference_pass(emit, path, text, quality_settings, store_folder)
    elif quality_step == "candidate":
        quality = candidate_pass(emit, path, store_folder, quality_settings)
    speed = None if speed_settings is None else benchmark_model(path, speed_settings, emit)
    return quality, speed


def compare_files(
    reference: Path,
    candidates: Sequence[Path],
    *,
    text: str | EvalText | None = None,
    ctx_tokens: int = 512,
    max_chunks: int | None = None,
    speed_repeats: int = 3,
    threads: int | None = None,
    cancel: CancelToken | None = None,
    use_cache: bool = True,
    prompt_tokens: int = 512,
    gen_tokens: int = 128,
    work_folder: Path | None = None,
) -> Job[list[LevelMeasurement]]:
    """Measure ``reference`` and each of ``candidates``; rows come back in that order.

    Inputs are checked here, before the job starts (missing or non-GGUF files, empty text).
    ``work_folder`` holds the temporary reference store (default: the system's temp folder).
    """
    if speed_repeats < 1 or prompt_tokens < 1 or gen_tokens < 1:
        raise ValueError("speed_repeats, prompt_tokens and gen_tokens must be at least 1")
    paths = [Path(reference), *(Path(c) for c in candidates)]
    facts = [read_file_facts(path) for path in paths]
    check_same_vocabulary(facts[0], facts[1:])
    eval_text = as_eval_text(text)
    speed_settings = SpeedSettings(prompt_tokens, gen_tokens, speed_repeats, threads).resolved()
    quality_settings = QualitySettings(ctx_tokens, max_chunks, speed_settings.threads)
    key = QualityKey(FileIdentity.of(paths[0]), eval_text.sha256, ctx_tokens, max_chunks)
    fits = plan_fits(paths)
    return _compare(
        facts,
        fits,
        eval_text,
        key,
        quality_settings,
        speed_settings,
        use_cache,
        cancel,
        work_folder,
    )


def _compare(
    facts: list[FileFacts],
    fits: list[FitSummary | None],
    text: EvalText,
    key: QualityKey,
    quality_settings: QualitySettings,
    speed_settings: SpeedSettings,
    use_cache: bool,
    cancel: CancelToken | None,
    work_folder: Path | None,
) -> Job[list[LevelMeasurement]]:
    paths = [f.path for f in facts]
    speeds = [results_cache.cached_speed(p, speed_settings) if use_cache else None for p in paths]
    qualities = [results_cache.cached_quality(p, key) if use_cache else None for p in paths]
    cached = [s is not None and q is not None for s, q in zip(speeds, qualities, strict=True)]
    need_store = any(q is None for q in qualities[1:])
    with tempfile.TemporaryDirectory(prefix="quantdesk-reference-", dir=work_folder) as tmp:
        for index, path in enumerate(paths):
            yield Progress("compare", index, len(paths), "files", f"measuring {path.name}")
            if index == 0:
                step = "reference" if need_store or qualities[0] is None else None
            else:
                step = "candidate" if qualities[index] is None else None
            wants_speed = speeds[index] is None
            if step is None and not wants_speed:
                continue
            quality, speed = yield from child_job(
                _measure_file, path, step, text, quality_settings, Path(tmp),
                speed_settings if wants_speed else None,
                what=f"Measuring {path.name}", cancel=cancel,
            )  # fmt: skip
            if quality is not None and qualities[index] is None:
                qualities[index] = quality
                yield from _saved(results_cache.save_quality, path, key, quality)
            if speed is not None:
                speeds[index] = speed
                yield from _saved(results_cache.save_speed, path, speed)
    yield Progress("compare", len(paths), len(paths), "files", "done")
    return [
        LevelMeasurement(f, i == 0, fits[i], speeds[i], qualities[i], cached[i])
        for i, f in enumerate(facts)
    ]


def _saved(save: Callable[..., None], path: Path, *args: Any) -> Job[None]:
    """Cache a result; a read-only folder costs only the cache, so it is reported, not raised."""
    try:
        save(path, *args)
    except OutputError as exc:
        yield Progress("compare", 0, 0, "files", f"results not cached: {exc}")
