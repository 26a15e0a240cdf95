"""Quality against the full-precision reference: perplexity, KL divergence, same top token.

These are the measures of llama.cpp's ``perplexity`` tool with ``--kl-divergence``, on the
chunks described in :mod:`desktop.engine.measure.eval_text`. Over all scored positions:

* perplexity: ``exp(mean(-log q(actual next token)))`` of the model itself;
* mean KL divergence: ``mean over positions of sum_t p(t) (log p(t) - log q(t))``, with ``p``
  the reference's and ``q`` the candidate's next-token distribution (tokens with
  ``log p <= -16`` left out, as llama.cpp does);
* same top token: the share of positions where both give the highest logit to one token.

Uncertainties are llama.cpp's: the standard error of the mean, scaled by the perplexity for
the perplexity.

Two passes keep memory bounded: pass 1 runs the reference and writes its distributions to
a :class:`ReferenceStore` on disk; pass 2 runs each candidate and reads the store one chunk
at a time. Each pass runs in its own child process, so only one model is loaded at a time.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter.errors import QuantdeskError
from converter.progress import CancelToken, Job, Progress
from converter.storage import ensure_free_space
from desktop.engine.hardware import default_threads
from desktop.engine.measure.child_job import child_job
from desktop.engine.measure.eval_text import EvalText, as_eval_text, chunk_tokens, plan_chunks
from desktop.engine.measure.file_facts import FileFacts, read_file_facts
from desktop.engine.measure.loaded_model import (
    bos_token,
    close_measured,
    open_for_measuring,
)
from desktop.engine.measure.reference_store import (
    ROWS_PER_BLOCK,
    ReferenceStore,
    codes_file_bytes,
    log_softmax,
)

Emit = Callable[[Any], None]


class VocabularyMismatch(QuantdeskError):
    """A candidate does not share the reference's vocabulary, so they cannot be compared."""


@dataclass(frozen=True, slots=True)
class QualitySettings:
    ctx_tokens: int = 512
    max_chunks: int | None = None
    threads: int | None = None


@dataclass(frozen=True, slots=True)
class QualityResult:
    perplexity: float
    perplexity_error: float
    mean_kl: float
    kl_error: float
    same_top: float  # share of positions, 0…1
    same_top_error: float  # llama.cpp's binomial error, sqrt(p (1 - p) / (n - 1))
    positions: int
    chunks: int


@dataclass(frozen=True, slots=True)
class QualityComparison:
    """Pass 1's figures for the reference, and pass 2's for each candidate, in order."""

    reference: QualityResult
    candidates: tuple[QualityResult, ...]


def _mean_and_error(total: float, total_sq: float, count: int) -> tuple[float, float]:
    mean = total / count
    variance = total_sq / count - mean * mean
    return mean, math.sqrt(variance / (count - 1)) if variance > 0 and count > 10 else 0.0


class _Totals:
    """Running sums over scored positions (the per-position values are never all kept)."""

    def __init__(self) -> None:
        self.nll = self.nll_sq = self.kl = self.kl_sq = 0.0
        self.same_top = self.count = 0

    def add(self, nll: np.ndarray, kl: np.ndarray, same_top: np.ndarray) -> None:
        self.nll += float(nll.sum())
        self.nll_sq += float((nll * nll).sum())
        self.kl += float(kl.sum())
        self.kl_sq += float((kl * kl).sum())
        self.same_top += int(same_top.sum())
        self.count += len(nll)

    def result(self, chunks: int) -> QualityResult:
        mean_nll, nll_error = _mean_and_error(self.nll, self.nll_sq, self.count)
        mean_kl, kl_error = _mean_and_error(self.kl, self.kl_sq, self.count)
        ppl = math.exp(mean_nll)
        same_top = self.same_top / self.count
        same_top_error = (
            math.sqrt(same_top * (1 - same_top) / (self.count - 1)) if self.count > 1 else 0.0
        )
        return QualityResult(
            perplexity=ppl,
            perplexity_error=ppl * nll_error,
            mean_kl=mean_kl,
            kl_error=kl_error,
            same_top=same_top,
            same_top_error=same_top_error,
            positions=self.count,
            chunks=chunks,
        )


def _open(path: Path, ctx: int, threads: int | None) -> Any:
    threads = threads or default_threads()
    return open_for_measuring(
        path, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx,
        n_threads=threads, n_threads_batch=threads,
    )  # fmt: skip


def _scored_logits(llm: Any, tokens: list[int]) -> np.ndarray:
    """Evaluate one chunk from an empty cache; the logits of its scored positions.

    As llama.cpp's perplexity tool does, only the scored positions ask for logits: the
    output layer (a vocabulary-sized matrix product per position) runs for half the chunk,
    and no ``ctx × vocabulary`` array of unused logits is ever filled or copied.
    """
    import llama_cpp

    first, count = len(tokens) // 2, len(tokens) - 1 - len(tokens) // 2
    llm.reset()
    memory = llama_cpp.llama_get_memory(llm.ctx)
    if memory is not None:
        llama_cpp.llama_memory_clear(memory, True)
    batch = llama_cpp.llama_batch_init(len(tokens), 0, 1)
    try:
        for index, token in enumerate(tokens):
            batch.token[index] = token
            batch.pos[index] = index
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = 0
            batch.logits[index] = first <= index < len(tokens) - 1
        batch.n_tokens = len(tokens)
        status = llama_cpp.llama_decode(llm.ctx, batch)
        if status != 0:
            raise QuantdeskError(f"llama.cpp could not evaluate a text chunk (status {status}).")
        pointer = llama_cpp.llama_get_logits(llm.ctx)
        return np.ctypeslib.as_array(pointer, shape=(count, llm.n_vocab())).copy()
    finally:
        llama_cpp.llama_batch_free(batch)


def reference_pass(
    emit: Emit, path: Path, text: EvalText, settings: QualitySettings, folder: Path
) -> QualityResult:
    """Pass 1 (in a child process): tokenize, run the reference, fill the store in ``folder``."""
    llm = _open(path, settings.ctx_tokens, settings.threads)
    try:
        tokens = llm.tokenize(text.text.encode("utf-8"), add_bos=True, special=False)
        plan = plan_chunks(len(tokens), settings.ctx_tokens, settings.max_chunks)
        needed = codes_file_bytes(plan.n_chunks, plan.scored_per_chunk, llm.n_vocab())
        ensure_free_space(folder, needed + needed // 10, "the reference model's distributions")
        store = ReferenceStore.create(
            folder, plan.n_chunks, plan.scored_per_chunk, llm.n_vocab(), plan.ctx_tokens
        )
        totals = _Totals()
        stage = f"quality {path.name} (reference)"
        for index, chunk in enumerate(chunk_tokens(tokens, plan, bos_token(llm))):
            logits = _scored_logits(llm, chunk)
            nll = store.write_chunk(index, chunk, logits, np.array(chunk[plan.first_scored + 1 :]))
            totals.add(nll, np.zeros_like(nll), np.ones(len(nll), dtype=bool))
            emit(Progress(stage, index + 1, plan.n_chunks, "chunks"))
        store.finish()
    finally:
        close_measured(llm)
    return totals.result(plan.n_chunks)


def candidate_pass(
    emit: Emit, path: Path, folder: Path, settings: QualitySettings
) -> QualityResult:
    """Pass 2 (in a child process): run one candidate on the stored chunks and compare."""
    store = ReferenceStore.open(folder)
    llm = _open(path, store.ctx, settings.threads)
    try:
        if llm.n_vocab() != store.n_vocab:
            raise VocabularyMismatch(
                f"{path.name} has a vocabulary of {llm.n_vocab()} tokens and the reference "
                f"{store.n_vocab}; compare only levels made from the same model."
            )
        totals = _Totals()
        stage = f"quality {path.name}"
        for index in range(store.n_chunks):
            tokens = store.tokens(index)
            logits = _scored_logits(llm, tokens)
            targets = np.array(tokens[len(tokens) // 2 + 1 :])
            for start in range(0, store.n_positions, ROWS_PER_BLOCK):
                rows = slice(start, start + ROWS_PER_BLOCK)
                totals.add(*_compare_rows(logits[rows], targets[rows], store, index, rows))
            emit(Progress(stage, index + 1, store.n_chunks, "chunks"))
    finally:
        close_measured(llm)
    return totals.result(store.n_chunks)


def _compare_rows(
    logits: np.ndarray, targets: np.ndarray, store: ReferenceStore, index: int, rows: slice
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-position NLL, KL divergence and same-top flags for a block of positions."""
    reference = store.read_chunk(index, rows)
    log_q = log_softmax(logits)
    nll = -np.take_along_axis(log_q, targets[:, None], axis=-1)[:, 0].astype(np.float64)
    log_p = reference.log_probs  # -inf where llama.cpp leaves the token out
    difference = log_p - log_q
    difference[~np.isfinite(log_p)] = 0.0  # p = 0 there: no contribution (not 0 × inf)
    kl = (np.exp(log_p) * difference).sum(axis=-1, dtype=np.float64)
    same_top = logits.argmax(axis=-1) == reference.top_token
    return nll, kl, same_top


def check_same_vocabulary(reference: FileFacts, candidates: Sequence[FileFacts]) -> None:
    """Refuse, before anything runs, a candidate that is not a level of the reference's model."""
    for candidate in candidates:
        if candidate.vocab_size != reference.vocab_size:
            raise VocabularyMismatch(
                f"{candidate.path.name} has a vocabulary of {candidate.vocab_size} tokens and "
                f"the reference {reference.vocab_size}; compare only levels made from the same "
                "model."
            )


def measure_quality(
    reference: Path,
    candidates: Sequence[Path],
    *,
    text: str | EvalText | None = None,
    ctx_tokens: int = 512,
    max_chunks: int | None = None,
    threads: int | None = None,
    cancel: CancelToken | None = None,
    work_folder: Path | None = None,
) -> Job[QualityComparison]:
    """Both passes as one job. The store lives in a temporary folder (``work_folder`` or the
    system's), removed when the job ends, fails or is cancelled. Inputs are checked at once."""
    reference_facts = read_file_facts(Path(reference))
    check_same_vocabulary(reference_facts, [read_file_facts(Path(c)) for c in candidates])
    eval_text = as_eval_text(text)
    settings = QualitySettings(ctx_tokens, max_chunks, threads or default_threads())
    return _both_passes(Path(reference), candidates, eval_text, settings, cancel, work_folder)


def _both_passes(
    reference: Path,
    candidates: Sequence[Path],
    eval_text: EvalText,
    settings: QualitySettings,
    cancel: CancelToken | None,
    work_folder: Path | None,
) -> Job[QualityComparison]:
    with tempfile.TemporaryDirectory(prefix="quantdesk-reference-", dir=work_folder) as tmp:
        store_folder = Path(tmp)
        reference_result = yield from child_job(
            reference_pass, Path(reference), eval_text, settings, store_folder,
            what=f"Measuring {Path(reference).name}", cancel=cancel,
        )  # fmt: skip
        results = []
        for candidate in candidates:
            result = yield from child_job(
                candidate_pass, Path(candidate), store_folder, settings,
                what=f"Measuring {Path(candidate).name}", cancel=cancel,
            )  # fmt: skip
            results.append(result)
    return QualityComparison(reference_result, tuple(results))
