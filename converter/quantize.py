"""Quantize a full-precision GGUF to the levels of the ladder with llama.cpp.

llama.cpp runs in a child process (it may abort on bad input and cannot be interrupted), and
writes under a temporary name that is renamed only when the file is complete. Progress is
per tensor: the parent knows from the source header in which order and at about what size
llama.cpp writes the tensors (:mod:`converter.quantize_plan`), and watches the output grow.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from converter.child_process import run_in_child
from converter.errors import OutputError, QuantizationError
from converter.gguf_shards import model_name
from converter.imatrix_file import ImportanceMatrix, check_matches_model
from converter.levels import IMATRIX_LEVELS, LEVELS, QuantLevel
from converter.progress import CancelToken, Job, Progress, blocking_job
from converter.quantize_child import ImatrixPayload, quantize_in_child
from converter.quantize_plan import QuantPlan, SourceModel, plan_quantization, read_source
from converter.storage import atomic_output, ensure_free_space, ensure_writable_folder
from converter.written import WrittenFile

#: Free space kept beyond the predicted output size (the prediction is an estimate).
DEFAULT_RESERVE_BYTES = 64 * 1024 * 1024
_SOURCE_SUFFIXES = ("-F16", "-BF16", "-F32")
#: Added to the file name of a level quantized with an importance matrix.
CALIBRATED_SUFFIX = "-imatrix"
_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Calibration:
    """An importance matrix to quantize with, and the file name recorded in the output."""

    matrix: ImportanceMatrix
    file_name: str

    def payload(self) -> ImatrixPayload:
        return ImatrixPayload(
            values=self.matrix.quantizer_values(),
            file=self.file_name,
            dataset=self.matrix.dataset,
            chunks=self.matrix.chunk_count,
        )


def resolve_level(wanted: str | QuantLevel, *, calibrated: bool = False) -> QuantLevel:
    """The level named ``wanted``; full-precision names and unknown ones are refused, and so
    are IQ levels without an importance matrix (``calibrated``)."""
    name = wanted.name if isinstance(wanted, QuantLevel) else wanted.strip().upper()
    for candidate in LEVELS + IMATRIX_LEVELS:
        if candidate.name == name:
            if candidate.needs_imatrix and not calibrated:
                raise QuantizationError(
                    f"{name} needs an importance matrix: without one llama.cpp refuses it or "
                    "its quality collapses. Calibrate (--imatrix auto or a file) or choose a "
                    "K-quant level such as Q3_K_M."
                )
            return candidate
    valid = ", ".join(lv.name for lv in LEVELS + IMATRIX_LEVELS)
    raise QuantizationError(f"Unknown quantization level {name!r}. Choose from: {valid}.")


def default_output_path(
    source: Path, level: QuantLevel, folder: Path | None = None, *, calibrated: bool = False
) -> Path:
    """``model-F16.gguf`` → ``model-Q4_K_M.gguf`` (``model-Q4_K_M-imatrix.gguf`` when
    calibrated), beside the source unless ``folder`` is given; a split source's numbering
    goes (llama.cpp writes one file)."""
    stem = model_name(source)
    for suffix in _SOURCE_SUFFIXES:
        if stem.upper().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    tail = CALIBRATED_SUFFIX if calibrated else ""
    return (folder or source.parent) / f"{stem}-{level.name}{tail}.gguf"


def quantize_gguf(
    source: Path,
    level: str | QuantLevel,
    *,
    out_path: Path | None = None,
    threads: int | None = None,
    cancel: CancelToken | None = None,
    reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    calibration: Calibration | None = None,
) -> Job[WrittenFile]:
    """Quantize ``source`` (F16/BF16/F32 GGUF) to ``level``; yield one event per tensor.

    ``out_path`` may be a file or an existing folder; an existing file there is replaced.
    ``reserve_bytes`` is the free space to keep beyond the predicted output size.
    ``calibration`` quantizes with an importance matrix (checked against the model first).
    """
    chosen = resolve_level(level, calibrated=calibration is not None)
    model = _read_checked_source(Path(source))
    _check_calibration(model, calibration)
    target = _output_path(model.path, chosen, out_path, calibration is not None)
    plan = plan_quantization(model, chosen, has_imatrix=calibration is not None)
    _check_destination(model.path, target, plan.predicted_bytes + reserve_bytes)
    return _quantize(model, plan, target, threads, cancel, _payload(calibration))


def quantize_ladder(
    source: Path,
    levels: Sequence[str | QuantLevel],
    *,
    out_dir: Path | None = None,
    threads: int | None = None,
    cancel: CancelToken | None = None,
    reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    calibration: Calibration | None = None,
) -> Job[list[WrittenFile]]:
    """Quantize ``source`` to each of ``levels`` in turn, with progress over all of them.

    Everything is checked before the first level starts (levels, the importance matrix,
    paths, space for all files). A failure or cancel keeps the levels already finished;
    they are complete files.
    """
    model, plans, targets = _plan_ladder(source, levels, out_dir, reserve_bytes, calibration)
    return _ladder(model, plans, targets, threads, cancel, _payload(calibration))


def check_ladder(
    source: Path,
    levels: Sequence[str | QuantLevel],
    *,
    out_dir: Path | None = None,
    reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    calibration: Calibration | None = None,
) -> None:
    """What :func:`quantize_ladder` checks before its first level (the levels, the importance
    matrix, the paths and the space for every file), for callers that quantize level by level."""
    _plan_ladder(source, levels, out_dir, reserve_bytes, calibration)


def _plan_ladder(
    source: Path,
    levels: Sequence[str | QuantLevel],
    out_dir: Path | None,
    reserve_bytes: int,
    calibration: Calibration | None,
) -> tuple[SourceModel, list[QuantPlan], list[Path]]:
    calibrated = calibration is not None
    chosen = list(dict.fromkeys(resolve_level(lv, calibrated=calibrated) for lv in levels))
    if not chosen:
        raise QuantizationError("No quantization level was given.")
    model = _read_checked_source(Path(source))
    _check_calibration(model, calibration)
    targets = [default_output_path(model.path, lv, out_dir, calibrated=calibrated) for lv in chosen]
    plans = [plan_quantization(model, lv, has_imatrix=calibrated) for lv in chosen]
    needed = sum(plan.predicted_bytes for plan in plans) + reserve_bytes
    for target in targets:
        _check_destination(model.path, target, needed)
    return model, plans, targets


def _check_calibration(model: SourceModel, calibration: Calibration | None) -> None:
    if calibration is not None:
        check_matches_model(calibration.matrix, {t.name: t.shape for t in model.tensors})


def _payload(calibration: Calibration | None) -> ImatrixPayload | None:
    return None if calibration is None else calibration.payload()


def _ladder(
    model: SourceModel,
    plans: list[QuantPlan],
    targets: list[Path],
    threads: int | None,
    cancel: CancelToken | None,
    imatrix: ImatrixPayload | None,
) -> Job[list[WrittenFile]]:
    per_level = len(model.tensors)
    total = per_level * len(plans)
    written: list[WrittenFile] = []
    for index, (plan, target) in enumerate(zip(plans, targets, strict=True)):
        job = _quantize(model, plan, target, threads, cancel, imatrix)
        try:
            while True:
                try:
                    event = next(job)
                except StopIteration as stop:
                    written.append(stop.value)
                    break
                overall = index * per_level + event.done
                yield Progress(event.stage, overall, total, event.unit, event.message)
        finally:
            job.close()  # a ladder closed early stops the level's worker now
    return written


def _read_checked_source(source: Path) -> SourceModel:
    if not source.is_file():
        raise QuantizationError(f"The model file {source} does not exist.")
    return read_source(source)


def _output_path(source: Path, level: QuantLevel, out: Path | None, calibrated: bool) -> Path:
    if out is None or Path(out).is_dir():
        folder = Path(out) if out is not None else None
        return default_output_path(source, level, folder, calibrated=calibrated)
    return Path(out)


def _check_destination(source: Path, target: Path, needed_bytes: int) -> None:
    same = target.resolve() == source.resolve()
    if same or (target.exists() and os.path.samefile(target, source)):
        raise OutputError(
            f"The output {target} is the input model itself; choose another output name or folder."
        )
    ensure_writable_folder(target.parent)
    ensure_free_space(target.parent, needed_bytes, f"{target.name}")


def _quantize(
    model: SourceModel,
    plan: QuantPlan,
    target: Path,
    threads: int | None,
    cancel: CancelToken | None,
    imatrix: ImatrixPayload | None = None,
) -> Job[WrittenFile]:
    stage = f"quantize {plan.level.name}"
    what = f"Quantizing {model.path.name} to {plan.level.name}"
    n_threads = threads or os.cpu_count() or 1
    yield Progress(stage, 0, plan.tensor_count, "tensors", model.path.name)
    done = 0

    def tensors_up_to(count: int) -> Iterator[Progress]:
        """One event per tensor finished since the last event, up to ``count``."""
        nonlocal done
        while done < count:
            done += 1
            yield Progress(stage, done, plan.tensor_count, "tensors", plan.names[done - 1])

    with atomic_output(target) as partial:

        def quantize(_report: Callable[[Progress], None], stop: CancelToken) -> None:
            args = (str(model.path), str(partial), plan.level.ftype, n_threads, imatrix)
            run_in_child(quantize_in_child, *args, what=what, cancel=stop)

        yield from blocking_job(
            quantize,
            name=what,
            cancel=cancel,
            poll=lambda: tensors_up_to(plan.tensors_written(_size_of(partial))),
            poll_seconds=_POLL_SECONDS,
        )
        if cancel is not None:
            cancel.raise_if_cancelled(what)
        if not partial.is_file():
            raise QuantizationError(f"{what} failed: llama.cpp wrote no output file.")
    yield from tensors_up_to(plan.tensor_count)  # llama.cpp's return: all tensors are complete
    return WrittenFile(
        path=target,
        level=plan.level.name,
        size_bytes=target.stat().st_size,
        tensor_count=plan.tensor_count,
        architecture=model.architecture,
    )


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
