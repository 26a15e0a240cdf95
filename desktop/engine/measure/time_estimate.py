"""How long measuring a ladder takes: a prediction before it starts, a time left while it runs.

Each file is measured in one child process (:mod:`desktop.engine.measure.level_comparison`):
the quality pass loads the model and evaluates each chunk in one batch, asking for logits at
the chunk's scored half only; the reference then writes its distributions to the store and a
candidate compares its own with them. The speed run loads the model again, runs a warm-up
prompt and one warm-up token, then ``repeats`` × (one prompt, ``gen_tokens`` single-token
decodes); a prompt asks for the logits of its last position only. The cost of each part:

* batched evaluation is compute-bound: every token is multiplied by the body weights (all but
  the token embedding, which is a row lookup, and the output layer), and every position that
  asks for logits by the output layer too, at a rate that depends on the weights' type (ggml
  has a kernel per type); seconds shrink with threads;
* a generated token multiplies the same weights for one position: compute that shrinks with
  threads, unless reading the weight bytes from memory takes longer (F16 on two cores does);
* the distribution work grows with scored positions × vocabulary, at a different rate for the
  reference (log-softmax, 16-bit encoding, writing) and a candidate (decoding, KL divergence);
* each child process and each load is a fixed cost.

The coefficients are measured by ``benchmarks/batch_cost_types.py`` (batched evaluation, per
weight type) and ``benchmarks/ladder_time_parts.py`` (the other parts; one
thread, CPU time of the calling thread, so that other processes on the machine do not inflate
them) on a 2-core AMD EPYC (docs/benchmarks.md); other machines are faster or slower by a
roughly constant factor, so while a measurement runs the prediction is rescaled by how long the
work done so far really took (:class:`TimeLeft`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from desktop.engine.measure.file_facts import MatrixShare

#: Batched evaluation on one thread, by weight type: seconds per weight × token, and per output
#: row × token (each row's dot product is set up and stored once per token). Measured by
#: ``benchmarks/batch_cost_types.py`` on 8-block random models 768 and 2048 wide
#: (docs/benchmarks.md, 2026-12-04): ggml's kernels for the K-quants and IQ4_XS do about
#: twice the weights per second of F16, Q8_0 and the 32-weight block types, and Q4_1 / Q5_1
#: half as many as those; BF16 runs at the K-quants' rate on this CPU, which has AVX-512 BF16
#: instructions (one without them is slower). A 512-token prompt of Qwen2.5-Coder 1.5B is
#: predicted within 1-7% at five levels, Gemma 3 270M's (640 wide) 9-21% short.
_BATCH_COST = MappingProxyType(
    {
        "F32": (1.95e-11, 6.85e-09),
        "BF16": (8.99e-12, 4.8e-09),
        "F16": (1.76e-11, 6.23e-09),
        "Q8_0": (1.66e-11, 3.28e-09),
        "Q4_0": (1.92e-11, 3.67e-09),
        "Q4_1": (4.26e-11, 4.11e-09),
        "Q5_0": (2.03e-11, 3.55e-09),
        "Q5_1": (4.8e-11, 3.83e-09),
        "Q2_K": (7.81e-12, 4.24e-09),
        "Q3_K": (8.49e-12, 3.84e-09),
        "Q4_K": (6.33e-12, 4.89e-09),
        "Q5_K": (6.69e-12, 3.88e-09),
        "Q6_K": (8.76e-12, 4.15e-09),
        "IQ4_NL": (1.98e-11, 4.01e-09),
        "IQ4_XS": (6.61e-12, 4.2e-09),
        "IQ3_S": (8.68e-12, 2.53e-09),
    }
)
#: A type not in the table (the IQ1/IQ2 and IQ3_XXS types, which need an importance matrix to
#: be made): priced as the slowest listed, so the estimate errs long.
_UNLISTED_COST = max(_BATCH_COST.values())
#: A generated token on one thread: seconds per weight it multiplies, and per weight byte read
#: (the floor memory sets, which more threads do not lower).
_TOKEN_WEIGHT_S, _TOKEN_BYTE_S = 7.6e-11, 4.5e-11
#: Seconds per (scored position × vocabulary entry) of the distribution work, as the user
#: waits for it: the whole ladder's wall time on 2 cores (docs/benchmarks.md, 2026-12-04:
#: 3.0e-8 and 2.6e-8 implied, median over 7 levels). The thread CPU time of the arithmetic
#: alone is 3.4e-9 / 6.6e-9; writing the reference's distributions to their memory-mapped
#: store and reading them back costs the rest, which CPU time does not see.
_REFERENCE_S, _COMPARE_S = 3.0e-8, 2.6e-8
#: Seconds to start a measuring child process, and per load of a model in it.
_CHILD_S, _LOAD_S = 0.35, 0.47


@dataclass(frozen=True, slots=True)
class FileWork:
    """What measuring one file involves; zeros for the parts that are cached."""

    body_weights: int  # multiplied by every evaluated token
    logit_weights: int  # the output layer, multiplied per position that asks for logits
    body_batch_seconds: float  # one token of a batch through the body, one thread
    logit_batch_seconds: float  # one position's logits through the output layer, one thread
    token_bytes: int  # weight bytes one generated token reads
    vocab_size: int
    is_reference: bool  # writes the distributions (a candidate compares with them)
    quality_tokens: int  # tokens evaluated for quality (chunks × context)
    scored_positions: int  # positions with logits, each compared over the vocabulary
    speed_prompt_tokens: int  # prompt tokens over all speed runs, warm-up included
    speed_prompt_runs: int  # prompt runs, warm-up included (one position's logits each)
    speed_single_tokens: int  # single-token decodes over all speed runs, warm-up included

    @property
    def idle(self) -> bool:
        return self.quality_tokens == 0 and self.speed_prompt_tokens == 0

    @property
    def loads(self) -> int:
        """The quality pass and the speed run each load the model."""
        return (self.quality_tokens > 0) + (self.speed_prompt_tokens > 0)

    @property
    def batch_seconds(self) -> tuple[float, float]:
        """Batched evaluation on one thread: (quality pass, speed run)."""
        quality = self.body_batch_seconds * self.quality_tokens
        speed = self.body_batch_seconds * self.speed_prompt_tokens
        return (
            quality + self.logit_batch_seconds * self.scored_positions,
            speed + self.logit_batch_seconds * self.speed_prompt_runs,
        )

    def parts(self, threads: int) -> PartSeconds:
        """The predicted seconds of each part of measuring this file."""
        if self.idle:
            return PartSeconds(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        quality, speed = self.batch_seconds
        per_entry = _REFERENCE_S if self.is_reference else _COMPARE_S
        return PartSeconds(
            child=_CHILD_S,
            loads=_LOAD_S * self.loads,
            quality_batch=quality / max(1, threads),
            distributions=per_entry * self.scored_positions * self.vocab_size,
            speed_batch=speed / max(1, threads),
            single=self.token_seconds(threads) * self.speed_single_tokens,
        )

    def token_seconds(self, threads: int) -> float:
        """One generated token: its compute on ``threads``, or reading its weights if slower."""
        weights = self.body_weights + self.logit_weights
        compute = _TOKEN_WEIGHT_S * weights / max(1, threads)
        return max(compute, _TOKEN_BYTE_S * self.token_bytes)

    def load_seconds(self) -> float:
        parts = self.parts(1)
        return parts.child + parts.loads

    def quality_seconds(self, threads: int) -> float:
        parts = self.parts(threads)
        return parts.quality_batch + parts.distributions

    def speed_seconds(self, threads: int) -> float:
        parts = self.parts(threads)
        return parts.speed_batch + parts.single

    def seconds(self, threads: int) -> float:
        return self.parts(threads).total


@dataclass(frozen=True, slots=True)
class PartSeconds:
    """Predicted seconds of each part of measuring one file, in the order they run."""

    child: float  # starting the child process
    loads: float  # loading the model, for the quality pass and again for the speed run
    quality_batch: float  # evaluating the chunks
    distributions: float  # writing (reference) or comparing (candidate) the distributions
    speed_batch: float  # the prompt runs
    single: float  # the single-token decodes

    @property
    def total(self) -> float:
        return (
            self.child + self.loads + self.quality_batch + self.distributions
            + self.speed_batch + self.single
        )  # fmt: skip


#: Characters a token of English text takes, roughly: chunks are counted from a text's
#: length before its tokenizer has run (the exact count needs the model's tokenizer).
CHARACTERS_PER_TOKEN = 4


def chunks_in_text(
    characters: int, ctx_tokens: int, max_chunks: int | None, *, at_least: int
) -> int:
    """How many chunks of ``ctx_tokens`` a text of ``characters`` gives (at least
    ``at_least``, at most ``max_chunks``), from its length."""
    available = max(at_least, characters // (CHARACTERS_PER_TOKEN * ctx_tokens))
    return available if max_chunks is None else min(available, max_chunks)


def batch_token_seconds(matrices: Iterable[MatrixShare]) -> float:
    """Seconds one token of a batch takes through ``matrices`` on one thread."""
    total = 0.0
    for share in matrices:
        per_weight, per_row = _BATCH_COST.get(share.type_name, _UNLISTED_COST)
        total += share.weights * per_weight + share.rows * per_row
    return total


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
