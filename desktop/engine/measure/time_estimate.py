"""How long measuring a ladder takes: a prediction before it starts, a time left while it runs.

The cost of each file is modelled from what dominates it on a CPU:

* batched evaluation (the quality chunks, the prompt-speed runs) is compute-bound: seconds grow
  with parameters × tokens and shrink with threads;
* one-token generation (the generation-speed runs) is memory-bound: seconds grow with the bytes
  of weights read per token;
* comparing distributions (log-softmax, KL divergence) grows with scored positions × vocabulary;
* loading grows with the file's size.

The coefficients were fitted on a 2-core x86 machine (docs/benchmarks.md); other machines are
faster or slower by a roughly constant factor, so while a measurement runs the prediction is
rescaled by how long the work done so far really took (:class:`TimeLeft`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

#: Seconds per (parameter × token) of batched evaluation on one thread.
_BATCH_S = 2.4e-11
#: Seconds per (byte × token) of one-token generation.
_SINGLE_S = 3.0e-10
#: Seconds per (scored position × vocabulary entry) of distribution work (both passes).
_COMPARE_S = 6.0e-8
#: Seconds per byte of loading, plus a fixed start-up per child process.
_LOAD_S_PER_BYTE, _START_S = 1.0e-9, 1.5


@dataclass(frozen=True, slots=True)
class FileWork:
    """What measuring one file involves; zeros for the parts that are cached."""

    parameters: int
    size_bytes: int
    vocab_size: int
    quality_tokens: int  # tokens evaluated for quality (chunks × context)
    scored_positions: int
    speed_batch_tokens: int  # prompt tokens over all speed runs, warm-up included
    speed_single_tokens: int  # generated tokens over all speed runs, warm-up included

    @property
    def idle(self) -> bool:
        return self.quality_tokens == 0 and self.speed_batch_tokens == 0

    def quality_seconds(self, threads: int) -> float:
        if self.quality_tokens == 0:
            return 0.0
        compute = _BATCH_S * self.parameters * self.quality_tokens / max(1, threads)
        return compute + _COMPARE_S * self.scored_positions * self.vocab_size

    def speed_seconds(self, threads: int) -> float:
        batched = _BATCH_S * self.parameters * self.speed_batch_tokens / max(1, threads)
        return batched + _SINGLE_S * self.size_bytes * self.speed_single_tokens

    def load_seconds(self) -> float:
        return 0.0 if self.idle else _START_S + _LOAD_S_PER_BYTE * self.size_bytes

    def seconds(self, threads: int) -> float:
        return self.load_seconds() + self.quality_seconds(threads) + self.speed_seconds(threads)


def predict_seconds(work: list[FileWork], threads: int) -> float:
    """The whole ladder's predicted time (before any of it has run)."""
    return sum(item.seconds(threads) for item in work)


class TimeLeft:
    """Predicted work done and left, rescaled by the real pace of the work done so far."""

    def __init__(self, work: list[FileWork], threads: int) -> None:
        self._parts = [
            (item.load_seconds(), item.quality_seconds(threads), item.speed_seconds(threads))
            for item in work
        ]
        self._costs = [sum(parts) for parts in self._parts]
        self._started = time.monotonic()
        self.predicted_done = 0.0

    @property
    def predicted_total(self) -> float:
        return sum(self._costs)

    def at(self, file_index: int, fraction_of_file: float) -> None:
        """Record that file ``file_index`` is ``fraction_of_file`` (0…1) done."""
        before = sum(self._costs[:file_index])
        self.predicted_done = before + self._costs[file_index] * min(1.0, fraction_of_file)

    def at_stage(self, file_index: int, stage: str, fraction: float) -> None:
        """Record progress through the ``"quality"`` or ``"speed"`` stage of a file (quality
        runs first, after loading)."""
        load, quality, speed = self._parts[file_index]
        done = load + (quality * fraction if stage == "quality" else quality + speed * fraction)
        before = sum(self._costs[:file_index])
        self.predicted_done = before + min(done, self._costs[file_index])

    def seconds_left(self) -> float:
        left = max(0.0, self.predicted_total - self.predicted_done)
        elapsed = time.monotonic() - self._started
        if self.predicted_done < 0.05 * self.predicted_total or elapsed < 5:
            return left  # too little seen yet to correct the prediction
        return left * elapsed / self.predicted_done
