"""The wizard's work as one job: convert the checkpoint, then quantize each chosen level.

Each event carries the step it belongs to, so the run page can show overall and per-step
progress. Every file is written atomically by the engine, so a cancel keeps only complete
files. Headless: no Qt.

Both kinds of step run in child processes: quantization because llama.cpp may crash, the
conversion because reading a checkpoint's tokenizer holds the GIL for long stretches (a
``json.loads`` of a large tokenizer.json froze the window for 1.9 s at the start of every
conversion when it ran in a thread of the app's process). Cancelling stops the child; its
SIGTERM handler unwinds the writer, which removes its partial file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.progress import CancelToken, Job, Progress


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
    written: tuple[Any, ...]  # WrittenFile, the full-precision file first

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
) -> Job[PipelineResult]:
    from converter.quantize import quantize_gguf
    from desktop.engine.measure.child_job import child_job

    steps = 1 + len(levels)
    title = "Converting the checkpoint"
    job = child_job(_convert_in_child, source, out_dir, name, what=title, cancel=cancel)
    base = yield from _relay(job, 0, steps, title)
    written = [base]
    for index, level in enumerate(levels, start=1):
        cancel.raise_if_cancelled("The conversion")
        job = quantize_gguf(base.path, level, threads=threads, cancel=cancel)
        written.append((yield from _relay(job, index, steps, f"Quantizing to {level}")))
    return PipelineResult(tuple(written))


def _convert_in_child(emit: Any, source: Path, out_dir: Path, name: str | None) -> Any:
    """The conversion, run by :func:`child_job` in a child process."""
    import signal

    from converter.convert import convert_checkpoint

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(1)  # unwinds the writer: its partial file is removed

    signal.signal(signal.SIGTERM, stop)
    job = convert_checkpoint(source, out_dir, name=name)
    while True:
        try:
            emit(next(job))
        except StopIteration as done:
            return done.value


def _relay(job: Job[Any], step: int, steps: int, title: str) -> Job[Any]:
    """Pass a step's events on, tagged with the step; return its result."""
    while True:
        try:
            event = next(job)
        except StopIteration as stop:
            return stop.value
        yield StepProgress(step, steps, title, event)  # type: ignore[misc]
