"""Opening a model for a measurement, inside the child process that measures it.

A measurement closes each model it opened here with :func:`close_measured`, which first reads
llama.cpp's own counters of the context (tokens evaluated in batches and one at a time, and the
time each took) into this process's :func:`work_log`: what a measurement really did, for
comparing with what the time estimate counts (``desktop/engine/measure/time_estimate.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.errors import ModelLoadError


@dataclass(frozen=True, slots=True)
class ContextWork:
    """One loaded model's work, as llama.cpp counted it (``llama_perf_context``)."""

    load_seconds: float  # the Python call that loads the model and makes its context
    open_seconds: float  # from the start of loading to closing
    batch_tokens: int  # tokens decoded in batches of more than one
    batch_seconds: float
    single_tokens: int  # single-token decodes
    single_seconds: float


_WORK_LOG: list[ContextWork] = []
_OPENED = "_quantdesk_opened"  # attribute set on the model: (start of loading, load seconds)


def open_for_measuring(path: Path, **llama_kwargs: Any) -> Any:
    """``open_llama`` (extra buffer types off) with load failures turned into ModelLoadError."""
    from desktop.engine.llama_loading import open_llama

    started = time.perf_counter()
    try:
        llm = open_llama(path, **llama_kwargs)
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            f"llama.cpp could not load {Path(path).name} ({exc}). The file may be damaged, "
            "incomplete, or of an architecture this llama.cpp does not support."
        ) from exc
    setattr(llm, _OPENED, (started, time.perf_counter() - started))
    return llm


def close_measured(llm: Any) -> None:
    """Record the context's counters in :func:`work_log`, then free the model."""
    import llama_cpp

    started, load_seconds = getattr(llm, _OPENED, (time.perf_counter(), 0.0))
    if llm.ctx is not None:
        data = llama_cpp.llama_perf_context(llm.ctx)
        # llama.cpp reports at least 1 of each count (to divide by); 0 ms means none ran.
        _WORK_LOG.append(
            ContextWork(
                load_seconds=load_seconds,
                open_seconds=time.perf_counter() - started,
                batch_tokens=data.n_p_eval if data.t_p_eval_ms > 0 else 0,
                batch_seconds=data.t_p_eval_ms / 1000,
                single_tokens=data.n_eval if data.t_eval_ms > 0 else 0,
                single_seconds=data.t_eval_ms / 1000,
            )
        )
    llm.close()


def work_log() -> tuple[ContextWork, ...]:
    """What every model closed in this process so far did, oldest first."""
    return tuple(_WORK_LOG)


def bos_token(llm: Any) -> int | None:
    """The BOS token id when the vocabulary asks for BOS in front of a text, else None."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return llm.token_bos() if llama_cpp.llama_vocab_get_add_bos(vocab) else None
