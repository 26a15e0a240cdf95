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
from converter.figures import span_text
from converter.progress import CancelToken, Job, Progress
from desktop.engine.measure import results_cache
from desktop.engine.measure.child_job import child_job
from desktop.engine.measure.eval_text import ChunkPlan, EvalText, as_eval_text
from desktop.engine.measure.file_facts import FileFacts, read_file_facts
from desktop.engine.measure.fit_summary import FitSummary, plan_fits
from desktop.engine.measure.loaded_model import ContextWork, work_log
from desktop.engine.measure.measure_options import (
    DEFAULT_MEASURE,
    MeasureOptions,
)
from desktop.engine.measure.quality import (
    QualityResult,
    QualitySettings,
    candidate_pass,
    check_same_vocabulary,
    reference_pass,
)
from desktop.engine.measure.results_cache import FileIdentity, QualityKey
from desktop.engine.measure.speed import SpeedResult, SpeedSettings, benchmark_model
from desktop.engine.measure.time_estimate import (
    FileWork,
    TimeLeft,
    batch_token_seconds,
    chunks_in_text,
    predict_seconds,
)


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
    # What measuring the file really did, as llama.cpp counted it (empty when cached).
    work_done: tuple[ContextWork, ...] = ()

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
) -> tuple[QualityResult | None, SpeedResult | None, tuple[ContextWork, ...]]:
    """Child process: the quality pass ``quality_step`` ("reference", "candidate" or None),
    then the speed benchmark when ``speed_settings`` is given. One model at a time. Returns
    the results and what each loaded model did."""
    logged = len(work_log())
    quality = None
    if quality_step == "reference":
        quality = reference_pass(emit, path, text, quality_settings, store_folder)
    elif quality_step == "candidate":
        quality = candidate_pass(emit, path, store_folder, quality_settings)
    speed = None if speed_settings is None else benchmark_model(path, speed_settings, emit)
    return quality, speed, work_log()[logged:]


def compare_files(
    reference: Path,
    candidates: Sequence[Path],
    options: MeasureOptions = DEFAULT_MEASURE,
    *,
    cancel: CancelToken | None = None,
    work_folder: Path | None = None,
    on_level: Callable[[LevelMeasurement], None] | None = None,
) -> Job[list[LevelMeasurement]]:
    """Measure ``reference`` and each of ``candidates``; rows come back in that order.

    Inputs are checked here, before the job starts (missing or non-GGUF files, empty text).
    ``work_folder`` holds the temporary reference store (default: the system's temp folder).
    ``on_level`` receives each row as soon as its file is measured (or found in the cache),
    so a screen can show it without waiting for the whole ladder. Progress names the level
    and the stage (``"Q4_K_M: quality"``) and says about how long is left.
    """
    plan = plan_comparison(reference, candidates, options)
    return _compare(plan, cancel, work_folder, on_level)


@dataclass(frozen=True, slots=True)
class ComparisonPlan:
    """Everything a comparison will do, known before it starts (and its predicted time)."""

    facts: list[FileFacts]
    fits: list[FitSummary | None]
    text: EvalText
    key: QualityKey
    quality_settings: QualitySettings
    speed_settings: SpeedSettings
    speeds: list[SpeedResult | None]  # cached results (None: to measure)
    qualities: list[QualityResult | None]
    work: list[FileWork]

    @property
    def predicted_seconds(self) -> float:
        return predict_seconds(self.work, self.speed_settings.threads or 1)


def plan_comparison(
    reference: Path,
    candidates: Sequence[Path],
    options: MeasureOptions = DEFAULT_MEASURE,
    *,
    with_fits: bool = True,
) -> ComparisonPlan:
    """Check the inputs, look up cached results and predict the time; nothing is loaded.
    ``with_fits=False`` skips the memory-fit plans (and the hardware probe they need) when
    only the prediction is wanted."""
    text, ctx_tokens, max_chunks = options.text, options.ctx_tokens, options.max_chunks
    speed_repeats, threads, use_cache = options.speed_repeats, options.threads, options.use_cache
    prompt_tokens, gen_tokens = options.prompt_tokens, options.gen_tokens
    if speed_repeats < 1 or prompt_tokens < 1 or gen_tokens < 1:
        raise ValueError("speed_repeats, prompt_tokens and gen_tokens must be at least 1")
    paths = [Path(reference), *(Path(c) for c in candidates)]
    facts = [read_file_facts(path) for path in paths]
    check_same_vocabulary(facts[0], facts[1:])
    eval_text = as_eval_text(text)
    speed_settings = SpeedSettings(prompt_tokens, gen_tokens, speed_repeats, threads).resolved()
    quality_settings = QualitySettings(ctx_tokens, max_chunks, speed_settings.threads)
    key = QualityKey(FileIdentity.of(paths[0]), eval_text.sha256, ctx_tokens, max_chunks)
    speeds = [results_cache.cached_speed(p, speed_settings) if use_cache else None for p in paths]
    qualities = [results_cache.cached_quality(p, key) if use_cache else None for p in paths]
    if any(q is None for q in qualities[1:]):
        qualities[0] = None  # the candidates need the reference's distributions again
    chunks = ChunkPlan(ctx_tokens, estimated_chunks(eval_text, ctx_tokens, max_chunks))
    work = [
        FileWork(
            body_weights=f.body_parameters,
            logit_weights=f.logit_parameters,
            body_batch_seconds=batch_token_seconds(f.body_matrices),
            logit_batch_seconds=batch_token_seconds(f.logit_matrices),
            token_bytes=f.generated_token_bytes,
            vocab_size=f.vocab_size,
            is_reference=index == 0,
            quality_tokens=0 if q is not None else chunks.n_chunks * ctx_tokens,
            scored_positions=0 if q is not None else chunks.scored_total,
            speed_prompt_tokens=0 if sp is not None else speed_settings.prompt_runs * prompt_tokens,
            speed_prompt_runs=0 if sp is not None else speed_settings.prompt_runs,
            speed_single_tokens=0 if sp is not None else speed_settings.single_decodes,
        )
        for index, (f, q, sp) in enumerate(zip(facts, qualities, speeds, strict=True))
    ]
    fits: list[FitSummary | None] = plan_fits(paths) if with_fits else [None] * len(paths)
    return ComparisonPlan(
        facts, fits, eval_text, key, quality_settings, speed_settings, speeds, qualities, work
    )


def estimated_chunks(text: EvalText, ctx_tokens: int, max_chunks: int | None) -> int:
    """Chunks the text will give, from its length (at least 2); the exact count needs the
    model's tokenizer, which runs in the child."""
    return chunks_in_text(len(text.text), ctx_tokens, max_chunks, at_least=2)


def _compare(
    plan: ComparisonPlan,
    cancel: CancelToken | None,
    work_folder: Path | None,
    on_level: Callable[[LevelMeasurement], None] | None,
) -> Job[list[LevelMeasurement]]:
    facts, speeds, qualities = plan.facts, list(plan.speeds), list(plan.qualities)
    cached = [w.idle for w in plan.work]
    clock = TimeLeft(plan.work, plan.speed_settings.threads or 1)
    rows: list[LevelMeasurement] = []
    to_measure = [index for index, work in enumerate(plan.work) if not work.idle]
    with tempfile.TemporaryDirectory(prefix="quantdesk-reference-", dir=work_folder) as tmp:
        for index, item in enumerate(facts):
            if cancel is not None:
                cancel.raise_if_cancelled("Measuring the ladder")
            work = plan.work[index]
            done: tuple[ContextWork, ...] = ()
            if not work.idle:
                where = f"level {to_measure.index(index) + 1} of {len(to_measure)} to measure"
                clock.at(index, 0.0)
                yield _progress(clock, f"{item.level}: loading", where)
                step = None
                if work.quality_tokens:
                    step = "reference" if index == 0 else "candidate"
                job = child_job(
                    _measure_file, item.path, step, plan.text, plan.quality_settings, Path(tmp),
                    plan.speed_settings if work.speed_prompt_tokens else None,
                    what=f"Measuring {item.path.name}", cancel=cancel,
                )  # fmt: skip
                quality, speed, done = yield from _file_progress(
                    job, clock, index, item.level, where
                )
                if quality is not None:
                    qualities[index] = quality
                    yield from _saved(results_cache.save_quality, item.path, plan.key, quality)
                if speed is not None:
                    speeds[index] = speed
                    yield from _saved(results_cache.save_speed, item.path, speed)
            clock.at(index, 1.0)
            row = LevelMeasurement(
                item, index == 0, plan.fits[index], speeds[index], qualities[index], cached[index],
                done,
            )  # fmt: skip
            rows.append(row)
            if on_level is not None:
                on_level(row)
    yield Progress("compare", 1, 1, "levels", "done")
    return rows


_FileResults = tuple[QualityResult | None, SpeedResult | None, tuple[ContextWork, ...]]


def _file_progress(
    job: Job[_FileResults], clock: TimeLeft, index: int, level: str, where: str
) -> Job[_FileResults]:
    """Pass the child's events on as the ladder's: level, stage, overall share, time left."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        kind = "quality" if event.stage.startswith("quality") else "speed"
        fraction = event.fraction or 0.0
        # Quality comes first, then speed; their shares of the file follow the prediction.
        clock.at_stage(index, kind, fraction)
        detail = f"{event.done} of {event.total} {event.unit}"
        yield _progress(clock, f"{level}: {kind}", f"{where} · {detail}")


def _progress(clock: TimeLeft, stage: str, message: str) -> Progress:
    total = max(1, round(clock.predicted_total))
    done = min(total, round(clock.predicted_done))
    left = span_text(clock.seconds_left())
    return Progress(stage, done, total, "s", f"{message} · about {left} left")


def _saved(save: Callable[..., None], path: Path, *args: Any) -> Job[None]:
    """Cache a result; a read-only folder costs only the cache, so it is reported, not raised."""
    try:
        save(path, *args)
    except OutputError as exc:
        yield Progress("compare", 0, 0, "files", f"results not cached: {exc}")
