"""Collect an importance matrix by running calibration text through a model in llama.cpp.

The text is cut as ``llama-imatrix`` cuts it: tokenized once (BOS in front when the
vocabulary asks for one, special tokens not parsed), then ``len(tokens) // ctx`` chunks of
``ctx`` tokens, each evaluated from an empty KV cache with its first token replaced by BOS,
with the logits of every position requested (llama.cpp skips work for positions whose logits
nobody wants, which would change the last layer's inputs). The eval callback of
:mod:`desktop.engine.imatrix_callback` sees every matrix multiplication.

It runs in a child process (:func:`~desktop.engine.measure.child_job.child_job`): a first
progress event once the text is cut (how many chunks, and on the CPU how long they will take,
from the measuring's time model), then one per chunk with the time left at the pace so far;
cancel ends the child.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from converter.errors import CalibrationTextError, ImatrixCollectionError
from converter.figures import span_text
from converter.imatrix_file import ImatrixEntry, ImportanceMatrix
from converter.progress import CancelToken, Job, Progress
from desktop.engine.calibration_text import CalibrationText
from desktop.engine.cpu_threadpool import attach_to_context
from desktop.engine.hardware import default_threads
from desktop.engine.imatrix_backend_sums import SumsWhere
from desktop.engine.measure.child_job import child_job
from desktop.engine.measure.file_facts import read_file_facts
from desktop.engine.measure.loaded_model import bos_token, open_for_measuring
from desktop.engine.measure.time_estimate import batch_token_seconds

Emit = Callable[[Any], None]
DEFAULT_CTX_TOKENS = 512
_UBATCH_TOKENS = 512  # llama-imatrix's default physical batch
#: Collecting's wall time on the CPU against the time model's batched evaluation of the same
#: tokens: 1.48 on Gemma 3 270M F16 (4 chunks, 10.8 s, 2 threads) and 1.42 on Qwen2.5-Coder
#: 1.5B F16 (16 chunks, 187 s, 2 threads). About 1.09 of it is the callback and the graph
#: splits it forces (docs/benchmarks.md); the rest is what the per-type table leaves out.
_COLLECT_FACTOR = 1.45


@dataclass(frozen=True, slots=True)
class CollectSettings:
    ctx_tokens: int = DEFAULT_CTX_TOKENS
    max_chunks: int | None = None
    threads: int | None = None
    #: False evaluates the same chunks without the callback (to measure its cost).
    collect: bool = True
    #: Layers offloaded to the GPU (None: as many as the fit planner places there, as a
    #: chat load does); the callback sums their inputs on the GPU.
    gpu_layers: int | None = None
    #: Where the callback sums the inputs' squares (the other choices are for measuring).
    sums_where: SumsWhere = SumsWhere.DEVICE_INPUTS_ON_DEVICE


@dataclass(frozen=True, slots=True)
class CollectedStats:
    """What the child sends back: float32 sums and int64 counts per weight, and timings."""

    sums: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    n_tokens: int
    n_chunks: int
    eval_seconds: float
    callback_seconds: float = 0.0  # of eval_seconds, spent summing inside the callback
    backend_summed: int = 0  # inputs summed by the backend holding them, not with numpy
    backend_seconds: float = 0.0  # of callback_seconds, computing those sums and reading them


def collect_in_child(
    emit: Emit, model_path: str, text: str, settings: CollectSettings
) -> CollectedStats:
    """Child side: load the model, evaluate the chunks with the callback, return the sums."""
    import llama_cpp

    from desktop.engine.imatrix_callback import GgmlLibrary, ImatrixAccumulator
    from desktop.engine.worker.loader import resolve_gpu_layers
    from desktop.engine.worker.settings import LoadSettings

    ctx_tokens = settings.ctx_tokens
    threads = settings.threads or default_threads()
    gpu_layers, _notes = resolve_gpu_layers(
        Path(model_path), LoadSettings(ctx_tokens=ctx_tokens, gpu_layers=settings.gpu_layers)
    )
    llm = open_for_measuring(
        Path(model_path),
        n_ctx=16,
        n_batch=16,
        n_threads=threads,
        n_gpu_layers=gpu_layers,
        cpu_threadpool=False,  # its context only tokenizes; the pool goes on the one below
    )
    accumulator = (
        ImatrixAccumulator(GgmlLibrary(), settings.sums_where) if settings.collect else None
    )
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = params.n_batch = ctx_tokens
    params.n_ubatch = min(ctx_tokens, _UBATCH_TOKENS)
    params.n_seq_max = 1
    params.n_threads = params.n_threads_batch = threads
    params.no_perf = True
    if accumulator is not None:
        params.cb_eval = accumulator.c_callback
        params.cb_eval_user_data = None
    ctx = llama_cpp.llama_init_from_model(llm.model, params)
    if not ctx:
        llm.close()
        raise ImatrixCollectionError(
            f"llama.cpp could not make a context of {ctx_tokens} tokens for "
            f"{Path(model_path).name}; try a smaller context."
        )
    # As llama-imatrix has: a callback splits every evaluation into many graphs.
    release_pool = attach_to_context(ctx, threads, threads)
    batch = llama_cpp.llama_batch_init(ctx_tokens, 0, 1)
    try:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        n_chunks = len(tokens) // ctx_tokens
        if settings.max_chunks is not None:
            n_chunks = min(n_chunks, settings.max_chunks)
        if n_chunks < 1:
            raise CalibrationTextError(
                f"The calibration text has only {len(tokens)} tokens; a context of "
                f"{ctx_tokens} needs at least {ctx_tokens}. Give a longer text."
            )
        bos = bos_token(llm)
        stage = "calibrate"
        planned = chunks_text(n_chunks, ctx_tokens)
        if gpu_layers == 0:  # the time model is the CPU's; on a GPU the first chunk tells
            seconds = predict_collect_seconds(Path(model_path), n_chunks * ctx_tokens, threads)
            planned += f", about {span_text(seconds)} on the CPU"
        emit(Progress(stage, 0, n_chunks, "chunks", planned))
        started = time.perf_counter()
        memory = llama_cpp.llama_get_memory(ctx)
        for index in range(n_chunks):
            chunk = tokens[index * ctx_tokens : (index + 1) * ctx_tokens]
            if bos is not None:
                chunk[0] = bos
            llama_cpp.llama_memory_clear(memory, True)
            _fill_batch(batch, chunk)
            status = llama_cpp.llama_decode(ctx, batch)
            if status != 0 or (accumulator is not None and accumulator.failed):
                raise ImatrixCollectionError(
                    f"llama.cpp failed to evaluate chunk {index + 1} of the calibration text "
                    f"(status {status})."
                )
            llama_cpp.llama_synchronize(ctx)
            elapsed = time.perf_counter() - started
            left = elapsed / (index + 1) * (n_chunks - index - 1)
            emit(Progress(stage, index + 1, n_chunks, "chunks", f"about {left:.0f} s left"))
        seconds = time.perf_counter() - started
    finally:
        llama_cpp.llama_batch_free(batch)
        if accumulator is not None:
            accumulator.close()
        if release_pool is not None:
            release_pool()
        llama_cpp.llama_free(ctx)
        llm.close()
    sums = {} if accumulator is None else accumulator.sums
    counts = {} if accumulator is None else accumulator.counts
    return CollectedStats(
        sums={name: value.astype(np.float32) for name, value in sums.items()},
        counts=dict(counts),
        n_tokens=len(tokens),
        n_chunks=n_chunks,
        eval_seconds=seconds,
        callback_seconds=0.0 if accumulator is None else accumulator.collect_seconds,
        backend_summed=0 if accumulator is None else accumulator.backend_summed,
        backend_seconds=0.0 if accumulator is None else accumulator.backend_seconds,
    )


def chunks_text(n_chunks: int, ctx_tokens: int) -> str:
    """``"4 chunks of 512 tokens"``: how a calibration text is cut, as progress and the wizard
    say it."""
    return f"{n_chunks} chunk{'' if n_chunks == 1 else 's'} of {ctx_tokens} tokens"


def predict_collect_seconds(model: Path, tokens: int, threads: int) -> float:
    """How long evaluating ``tokens`` calibration tokens takes on the CPU with the callback:
    every position is multiplied by every weight but the embedding's lookup, the output layer
    included (all logits are asked for), priced per weight type as the ladder's time model
    does, times what collecting measured against that (``_COLLECT_FACTOR``)."""
    facts = read_file_facts(model)
    per_token = batch_token_seconds(facts.body_matrices) + batch_token_seconds(facts.logit_matrices)
    return per_token * tokens / max(1, threads) * _COLLECT_FACTOR


def _fill_batch(batch: Any, chunk: list[int]) -> None:
    """One sequence, every position's logits requested (as llama-imatrix does)."""
    batch.n_tokens = len(chunk)
    for position, token in enumerate(chunk):
        batch.token[position] = token
        batch.pos[position] = position
        batch.n_seq_id[position] = 1
        batch.seq_id[position][0] = 0
        batch.logits[position] = 1


def collect_imatrix(
    model: Path,
    text: CalibrationText,
    *,
    ctx_tokens: int = DEFAULT_CTX_TOKENS,
    max_chunks: int | None = None,
    threads: int | None = None,
    gpu_layers: int | None = None,
    cancel: CancelToken | None = None,
) -> Job[ImportanceMatrix]:
    """Collect ``model``'s importance matrix on ``text`` in a child process (``gpu_layers``
    None: as many layers on the GPU as the fit planner places there; 0 on a machine without
    one)."""
    model = Path(model)
    if not model.is_file():
        raise ImatrixCollectionError(f"The model file {model} does not exist.")
    if ctx_tokens < 16:
        raise ImatrixCollectionError(f"The context must be at least 16 tokens, not {ctx_tokens}.")
    settings = CollectSettings(
        ctx_tokens=ctx_tokens, max_chunks=max_chunks, threads=threads, gpu_layers=gpu_layers
    )
    return _collect(model, text, settings, cancel)


def _collect(
    model: Path, text: CalibrationText, settings: CollectSettings, cancel: CancelToken | None
) -> Job[ImportanceMatrix]:
    stats = yield from child_job(
        collect_in_child, str(model), text.text, settings,
        what=f"Collecting the importance matrix of {model.name}", cancel=cancel,
    )  # fmt: skip
    return to_importance_matrix(stats, dataset=text.name, chunk_size=settings.ctx_tokens)


def to_importance_matrix(
    stats: CollectedStats, *, dataset: str, chunk_size: int
) -> ImportanceMatrix:
    """The child's sums as an :class:`ImportanceMatrix` (chunk count as llama-imatrix counts)."""
    entries = {
        name: ImatrixEntry(stats.sums[name], stats.counts[name]) for name in sorted(stats.sums)
    }
    most = max((int(c.max()) for c in stats.counts.values()), default=0)
    return ImportanceMatrix(
        entries=MappingProxyType(entries),
        datasets=(dataset,),
        chunk_count=most // chunk_size,
        chunk_size=chunk_size,
    )


def time_plain_evaluation(
    model: Path, text: CalibrationText, settings: CollectSettings
) -> Job[CollectedStats]:
    """The same chunks evaluated without the callback: the yardstick for its cost."""
    plain = replace(settings, collect=False)
    return child_job(
        collect_in_child, str(model), text.text, plain, what=f"Evaluating {model.name}"
    )
