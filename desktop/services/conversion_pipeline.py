"""The wizard's work as one job: convert the checkpoint, calibrate, then quantize each level.

Each event carries the step it belongs to, so the run page can show overall and per-step
progress. Every file is written atomically by the engine, so a cancel keeps only complete
files. Headless: no Qt.

Calibration (an importance matrix) comes from one of three places
(:class:`CalibrationChoice`): the bundled calibration text, the user's own text file or
folder, or an importance-matrix file made elsewhere (``llama-imatrix``'s GGUF or a hub
repository's ``imatrix.dat``). A matrix collected here is saved beside the model as
``<model>.imatrix.gguf``, and that file's name is what the quantized files record.

Both kinds of step run in child processes: quantization because llama.cpp may crash, the
conversion because reading a checkpoint's tokenizer holds the GIL for long stretches (a
``json.loads`` of a large tokenizer.json froze the window for 1.9 s at the start of every
conversion when it ran in a thread of the app's process). Cancelling stops the child; its
SIGTERM handler unwinds the writer, which removes its partial file.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from converter.progress import CancelToken, Job, Progress
from converter.written import WrittenFile

CalibrationKind = Literal["bundled", "text", "file"]
IMATRIX_SUFFIX = ".imatrix.gguf"


@dataclass(frozen=True, slots=True)
class CalibrationChoice:
    """Where the importance matrix comes from; ``path`` is the text or matrix file."""

    kind: CalibrationKind
    path: Path | None = None
    ctx_tokens: int = 512
    max_chunks: int | None = None

    def __post_init__(self) -> None:
        if self.kind != "bundled" and self.path is None:
            raise ValueError(f"a {self.kind!r} calibration needs a path")

    @property
    def describe(self) -> str:
        if self.kind == "bundled":
            return "the bundled calibration text"
        return f"{'the text' if self.kind == 'text' else 'the importance matrix'} {self.path}"


def calibration_time_text(
    model: Path, choice: CalibrationChoice, threads: int | None = None
) -> str:
    """Before converting: how long collecting the matrix for ``choice`` will take on this
    machine's CPU, as a sentence ("" for a matrix file, which needs no collecting).

    ``model`` is any GGUF with the model's tensors listed (the wizard's header-only preview
    will do); the chunks are counted from the text's length, the exact count needs the
    model's tokenizer. Reads the text: call it off the
    GUI thread. A text that cannot be used raises its CalibrationTextError here already."""
    from converter.figures import span_text
    from desktop.engine.calibration_text import load_calibration_text
    from desktop.engine.hardware import default_threads
    from desktop.engine.imatrix_collector import chunks_text, predict_collect_seconds
    from desktop.engine.measure.time_estimate import chunks_in_text

    if choice.kind == "file":
        return ""
    text = load_calibration_text(choice.path if choice.kind == "text" else None)
    chunks = chunks_in_text(len(text.text), choice.ctx_tokens, choice.max_chunks, at_least=1)
    tokens = chunks * choice.ctx_tokens
    seconds = predict_collect_seconds(model, tokens, threads or default_threads())
    return (
        f"Calibrating takes about {span_text(seconds)} on this machine's CPU, less on a GPU "
        f"(about {chunks_text(chunks, choice.ctx_tokens)} of {text.name})."
    )


def imatrix_path_for(model: Path) -> Path:
    """``models/x-F16.gguf`` → ``models/x-F16.imatrix.gguf``."""
    return model.with_name(model.name.removesuffix(".gguf") + IMATRIX_SUFFIX)


def prepare_calibration(
    model: Path,
    choice: CalibrationChoice,
    *,
    cancel: CancelToken | None = None,
    threads: int | None = None,
) -> Job[Any]:
    """The :class:`~converter.quantize.Calibration` for ``model``: read or collected."""
    from converter.imatrix_file import read_imatrix, write_imatrix
    from converter.quantize import Calibration
    from desktop.engine.calibration_text import load_calibration_text
    from desktop.engine.imatrix_collector import collect_imatrix

    if choice.kind == "file":
        assert choice.path is not None
        return Calibration(read_imatrix(choice.path), Path(choice.path).name)
    text = load_calibration_text(choice.path if choice.kind == "text" else None)
    matrix = yield from collect_imatrix(
        model, text, ctx_tokens=choice.ctx_tokens, max_chunks=choice.max_chunks,
        threads=threads, cancel=cancel,
    )  # fmt: skip
    saved = write_imatrix(matrix, imatrix_path_for(model))
    return Calibration(matrix, saved.name)


@dataclass(frozen=True, slots=True)
class StepProgress:
    step: int  # 0-based
    steps: int
    title: str  # "Converting to F16", "Quantizing to Q4_K_M"
    progress: Progress

    @property
    def overall(self) -> float:
        within = self.progress.fraction or 0.0
        return (self.step + within) / self.steps


@dataclass(frozen=True, slots=True)
class PipelineResult:
    written: tuple[WrittenFile, ...]  # the full-precision file first

    @property
    def paths(self) -> list[Path]:
        return [w.path for w in self.written]


def convert_and_quantize(
    source: Path,
    out_dir: Path,
    levels: list[str],
    *,
    cancel: CancelToken,
    threads: int | None = None,
    name: str | None = None,
    outtype: str | None = None,
    calibration: CalibrationChoice | None = None,
) -> Generator[StepProgress, None, PipelineResult]:
    """The one orchestration of convert → calibrate → quantize, for the wizard and the CLI.

    Before the first level, the space for every level is checked at once, so a disk that can
    hold only some of them fails before any quantization starts.
    """
    from converter.quantize import check_ladder, quantize_gguf
    from desktop.engine.measure.child_job import child_job

    calibrate = calibration is not None and bool(levels)
    steps = 1 + int(calibrate) + len(levels)
    title = "Converting the checkpoint"
    job = child_job(_convert_in_child, source, out_dir, name, outtype, what=title, cancel=cancel)
    base = yield from _relay(job, 0, steps, title)
    written = [base]
    prepared = None
    if calibrate:
        assert calibration is not None
        cancel.raise_if_cancelled("The conversion")
        job = prepare_calibration(base.path, calibration, cancel=cancel, threads=threads)
        prepared = yield from _relay(job, 1, steps, "Calibrating (importance matrix)")
    if levels:
        check_ladder(base.path, levels, calibration=prepared)
    for index, level in enumerate(levels, start=1 + int(calibrate)):
        cancel.raise_if_cancelled("The conversion")
        job = quantize_gguf(base.path, level, threads=threads, cancel=cancel, calibration=prepared)
        suffix = " (calibrated)" if prepared is not None else ""
        written.append((yield from _relay(job, index, steps, f"Quantizing to {level}{suffix}")))
    return PipelineResult(tuple(written))


def _convert_in_child(
    emit: Any, source: Path, out_dir: Path, name: str | None, outtype: str | None
) -> Any:
    """The conversion, run by :func:`child_job` in a child process."""
    import signal

    from converter.convert import convert_checkpoint

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(1)  # unwinds the writer: its partial file is removed

    signal.signal(signal.SIGTERM, stop)
    job = convert_checkpoint(source, out_dir, outtype=outtype, name=name)
    while True:
        try:
            emit(next(job))
        except StopIteration as done:
            return done.value


def _relay(job: Job[Any], step: int, steps: int, title: str) -> Generator[StepProgress, None, Any]:
    """Pass a step's events on, tagged with the step; return its result."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        yield StepProgress(step, steps, title, event)
