"""Prompt and generation speed, measured the way llama.cpp's ``llama-bench`` does.

``llama-bench`` reports two separate tests, ``pp512`` and ``tg128``; we run both on one
loaded model:

* warm-up: one prompt run and one single-token decode, not timed (first runs page weights
  in and allocate buffers);
* prompt processing (pp): an empty KV cache, then ``prompt_tokens`` tokens decoded in one
  batch (BOS first when the vocabulary adds one, then random tokens from a fixed seed);
* text generation (tg): an empty KV cache, then ``gen_tokens`` decodes of one token each;
* each is repeated ``repeats`` times; we report the median tokens per second, the standard
  deviation over the runs (llama-bench's ``± stddev``) and the raw run times.

The thread count is explicit so that every file of a comparison runs with the same one.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter.child_process import run_in_child
from converter.progress import CancelToken, Progress
from desktop.engine.hardware import default_threads
from desktop.engine.measure.loaded_model import (
    bos_token,
    close_measured,
    open_for_measuring,
)

_RANDOM_SEED = 1234
_BATCH = 512


@dataclass(frozen=True, slots=True)
class SpeedSettings:
    prompt_tokens: int = 512
    gen_tokens: int = 128
    repeats: int = 3
    threads: int | None = None

    @property
    def prompt_runs(self) -> int:
        """Prompts a measurement decodes: the warm-up, then one per repeat."""
        return self.repeats + 1

    @property
    def single_decodes(self) -> int:
        """Single-token decodes: the warm-up token, then ``gen_tokens`` per repeat."""
        return self.repeats * self.gen_tokens + 1

    def resolved(self) -> SpeedSettings:
        """The same settings with the thread count fixed (cache keys need the real number)."""
        if self.threads is not None:
            return self
        return SpeedSettings(self.prompt_tokens, self.gen_tokens, self.repeats, default_threads())


@dataclass(frozen=True, slots=True)
class SpeedResult:
    prompt_tokens_per_s: float  # median over the runs
    prompt_stdev: float
    gen_tokens_per_s: float
    gen_stdev: float
    prompt_seconds: tuple[float, ...]  # wall time of each timed prompt run
    gen_seconds: tuple[float, ...]
    settings: SpeedSettings


def _rates(count: int, seconds: list[float]) -> tuple[float, float]:
    rates = [count / s for s in seconds]
    return statistics.median(rates), statistics.stdev(rates) if len(rates) > 1 else 0.0


def _time_prompt(llm: Any, tokens: list[int]) -> float:
    import llama_cpp

    llm.reset()
    started = time.perf_counter()
    llm.eval(tokens)  # clears the KV cache from position 0, then decodes in one batch
    llama_cpp.llama_synchronize(llm.ctx)  # done computing (a GPU returns before it is)
    return time.perf_counter() - started


def _time_generation(llm: Any, tokens: list[int]) -> float:
    import llama_cpp

    llm.reset()
    started = time.perf_counter()
    for token in tokens:
        llm.eval([token])
        # A generated token's logits are read before the next token exists: wait for them
        # as a real reply does (``Llama.eval`` itself no longer reads them).
        llama_cpp.llama_synchronize(llm.ctx)
    return time.perf_counter() - started


def benchmark_model(
    path: Path, settings: SpeedSettings, emit: Callable[[Any], None] | None = None
) -> SpeedResult:
    """Load ``path`` and time it (call this inside a child process)."""
    settings = settings.resolved()
    llm = open_for_measuring(
        path,
        n_ctx=settings.prompt_tokens + settings.gen_tokens,
        n_batch=_BATCH,
        n_ubatch=_BATCH,
        n_threads=settings.threads,
        n_threads_batch=settings.threads,
    )
    rng = np.random.default_rng(_RANDOM_SEED)
    bos = bos_token(llm)

    def random_tokens(count: int) -> list[int]:
        tokens = [int(t) for t in rng.integers(0, llm.n_vocab(), size=count)]
        if bos is not None:
            tokens[0] = bos
        return tokens

    try:
        _time_prompt(llm, random_tokens(settings.prompt_tokens))  # warm-up
        _time_generation(llm, random_tokens(1))
        prompt_seconds, gen_seconds = [], []
        for run in range(settings.repeats):
            prompt_seconds.append(_time_prompt(llm, random_tokens(settings.prompt_tokens)))
            gen_seconds.append(_time_generation(llm, random_tokens(settings.gen_tokens)))
            if emit is not None:
                emit(Progress(f"speed {path.name}", run + 1, settings.repeats, "runs"))
    finally:
        close_measured(llm)
    pp, pp_stdev = _rates(settings.prompt_tokens, prompt_seconds)
    tg, tg_stdev = _rates(settings.gen_tokens, gen_seconds)
    return SpeedResult(
        pp, pp_stdev, tg, tg_stdev, tuple(prompt_seconds), tuple(gen_seconds), settings
    )


def _speed_in_child(
    emit: Callable[[Any], None], path: Path, settings: SpeedSettings
) -> SpeedResult:
    return benchmark_model(path, settings, emit)


def measure_speed(
    path: Path,
    *,
    prompt_tokens: int = 512,
    gen_tokens: int = 128,
    repeats: int = 3,
    threads: int | None = None,
    cancel: CancelToken | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> SpeedResult:
    """Benchmark one model in a child process (a llama.cpp crash cannot take the caller down)."""
    if prompt_tokens < 1 or gen_tokens < 1 or repeats < 1:
        raise ValueError("prompt_tokens, gen_tokens and repeats must be at least 1")
    settings = SpeedSettings(prompt_tokens, gen_tokens, repeats, threads).resolved()
    return run_in_child(
        _speed_in_child,
        Path(path),
        settings,
        what=f"Measuring the speed of {Path(path).name}",
        on_event=on_progress,
        cancel=cancel,
    )
