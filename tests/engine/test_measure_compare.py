"""Speed measurement, the comparison job, its results cache and cancellation (real llama.cpp)."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import pytest

from converter.errors import Cancelled
from converter.progress import CancelToken, Progress, run_job
from desktop.engine.measure.file_facts import read_file_facts
from desktop.engine.measure.level_comparison import (
    LevelMeasurement,
    compare_files,
    plan_comparison,
)
from desktop.engine.measure.measure_options import MeasureOptions
from desktop.engine.measure.results_cache import load_cached_results, sidecar_path
from desktop.engine.measure.speed import measure_speed
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.measure_helpers import CTX, SHAPE, SHORT_TEXT, TinyLevels, build_levels

SMALL_RUN = {
    "text": SHORT_TEXT, "ctx_tokens": CTX, "max_chunks": 2, "speed_repeats": 2,
    "threads": 1, "prompt_tokens": 64, "gen_tokens": 8,
}  # fmt: skip


@pytest.fixture(scope="module")
def levels(tmp_path_factory: pytest.TempPathFactory) -> TinyLevels:
    return build_levels(tmp_path_factory.mktemp("levels"))


def _compare(levels: TinyLevels, **overrides: object) -> list[LevelMeasurement]:
    return run_job(
        compare_files(
            levels.f16, [levels.q8_0, levels.q2_k], MeasureOptions(**{**SMALL_RUN, **overrides})
        )
    )


def test_speed_figures_are_positive_and_fit_the_wall_time(levels: TinyLevels) -> None:
    events: list[Progress] = []
    started = time.perf_counter()
    result = measure_speed(
        levels.q8_0,
        prompt_tokens=64,
        gen_tokens=16,
        repeats=3,
        threads=1,
        on_progress=events.append,
    )
    wall = time.perf_counter() - started
    assert len(result.prompt_seconds) == len(result.gen_seconds) == 3
    assert all(s > 0 for s in result.prompt_seconds + result.gen_seconds)
    assert sum(result.prompt_seconds) + sum(result.gen_seconds) < wall
    assert result.prompt_tokens_per_s == statistics.median(64 / s for s in result.prompt_seconds)
    assert result.gen_tokens_per_s == statistics.median(16 / s for s in result.gen_seconds)
    # Lower bound from the wall time: the timed runs cannot have been faster than this.
    assert result.gen_tokens_per_s >= 16 / wall and result.prompt_tokens_per_s >= 64 / wall
    assert result.settings.threads == 1
    assert [e.done for e in events] == [1, 2, 3]


def test_comparison_rows_then_cache_hits_and_misses(levels: TinyLevels) -> None:
    rows = _compare(levels)
    assert [r.level for r in rows] == ["F16", "Q8_0", "Q2_K"]
    assert [r.is_reference for r in rows] == [True, False, False]
    assert not any(r.cached for r in rows)
    for row in rows:
        assert row.facts.size_bytes == row.path.stat().st_size
        assert row.speed is not None and row.speed.prompt_tokens_per_s > 0
        assert row.quality is not None and row.quality.positions == 2 * (CTX - 1 - CTX // 2)
        assert sidecar_path(row.path).is_file()
    f16, q8_0, q2_k = rows
    assert 16 < f16.facts.bits_per_weight < 16.2  # norms stay F32
    assert 8.5 <= q8_0.facts.bits_per_weight < 9 and q2_k.facts.bits_per_weight < 4
    assert f16.quality.mean_kl == 0 and f16.quality.same_top == 1
    assert 0 < q8_0.quality.mean_kl < q2_k.quality.mean_kl

    again = _compare(levels)
    assert all(r.cached for r in again)
    assert [r.quality for r in again] == [r.quality for r in rows]
    assert [r.speed for r in again] == [r.speed for r in rows]

    stat = levels.q2_k.stat()
    os.utime(levels.q2_k, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after_touch = _compare(levels)
    # The reference runs again too: the changed level needs its distributions.
    assert [r.cached for r in after_touch] == [False, True, False]

    other_text = _compare(levels, text=SHORT_TEXT[100:])
    assert [r.quality == o.quality for r, o in zip(other_text, rows, strict=True)] == [False] * 3
    assert [r.speed == o.speed for r, o in zip(other_text, after_touch, strict=True)] == [True] * 3

    saved = load_cached_results(levels.q8_0)
    assert rows[1].speed in saved.speed and len(saved.quality) == 2
    assert load_cached_results(levels.f16.with_name("absent.gguf")).speed == ()


def test_rows_arrive_one_by_one_with_level_stage_and_time_left(levels: TinyLevels) -> None:
    arrived: list[tuple[str, int]] = []
    events: list[Progress] = []
    job = compare_files(
        levels.f16, [levels.q8_0, levels.q2_k], MeasureOptions(**SMALL_RUN, use_cache=False),
        on_level=lambda row: arrived.append((row.level, len(events))),
    )  # fmt: skip
    rows = run_job(job, events.append)
    assert [level for level, _ in arrived] == ["F16", "Q8_0", "Q2_K"]
    # Each row came while the job was still running, right after its own level's events.
    assert arrived[0][1] < arrived[1][1] < arrived[2][1] < len(events)
    stages = [e.stage for e in events]
    for level in ("F16", "Q8_0", "Q2_K"):
        assert [f"{level}: loading", f"{level}: quality", f"{level}: speed"] == [
            s for s in dict.fromkeys(stages) if s.startswith(level)
        ]
    assert all("left" in e.message for e in events if e.stage != "compare")
    fractions = [e.fraction for e in events if e.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [r.level for r in rows] == ["F16", "Q8_0", "Q2_K"]
    cached = plan_comparison(levels.f16, [levels.q8_0, levels.q2_k], MeasureOptions(**SMALL_RUN))
    fresh = plan_comparison(levels.f16, [levels.q8_0], MeasureOptions(**SMALL_RUN, use_cache=False))
    assert cached.predicted_seconds == 0 < fresh.predicted_seconds


def test_the_time_estimate_counts_the_work_llama_cpp_really_does(levels: TinyLevels) -> None:
    """Each input of the time model against llama.cpp's own counters of the real run: loads,
    tokens decoded in batches and one at a time; the positions with logits against the
    positions the quality figures were computed over; the weights against the header."""
    options = MeasureOptions(**SMALL_RUN, use_cache=False)
    candidates = [levels.q8_0, levels.q2_k]
    plan = plan_comparison(levels.f16, candidates, options)
    rows = run_job(compare_files(levels.f16, candidates, options))
    for row, work in zip(rows, plan.work, strict=True):
        assert len(row.work_done) == work.loads == 2
        quality, speed = row.work_done
        assert row.quality is not None
        assert quality.batch_tokens == work.quality_tokens == row.quality.chunks * CTX
        assert quality.single_tokens == 0
        assert work.scored_positions == row.quality.positions
        assert work.is_reference == row.is_reference
        assert speed.batch_tokens == work.speed_prompt_tokens
        assert speed.single_tokens == work.speed_single_tokens
        assert work.speed_prompt_runs == SMALL_RUN["speed_repeats"] + 1  # the warm-up too
        facts = row.facts
        embedding = facts.vocab_size * SHAPE.n_embd
        assert facts.embedding_parameters == facts.output_parameters == embedding  # untied
        assert work.body_weights == facts.parameters - 2 * embedding
        assert work.logit_weights == embedding
        assert work.token_bytes == facts.tensor_bytes - facts.embedding_bytes
        parts = work.parts(1)
        assert parts.total == pytest.approx(work.seconds(1)) and parts.distributions > 0


def test_a_tied_output_layer_is_the_embedding(tmp_path: Path) -> None:
    tied = write_tiny_gguf(tmp_path / "tied.gguf", replace(SHAPE, tied_embeddings=True))
    facts = read_file_facts(tied)
    assert facts.output_parameters == 0 < facts.embedding_parameters
    assert facts.logit_parameters == facts.embedding_parameters == SHAPE.n_vocab * SHAPE.n_embd
    assert facts.body_parameters == facts.parameters - facts.embedding_parameters
    assert facts.generated_token_bytes == facts.tensor_bytes


def test_no_cache_measures_again(levels: TinyLevels) -> None:
    _compare(levels)
    rows = _compare(levels, use_cache=False)
    assert not any(r.cached for r in rows)


def test_corrupt_sidecar_is_ignored(levels: TinyLevels) -> None:
    sidecar_path(levels.q8_0).write_text("{not json", encoding="utf-8")
    assert load_cached_results(levels.q8_0).quality == ()
    rows = _compare(levels)
    assert rows[1].quality is not None and not rows[1].cached


def test_cancel_mid_measure_stops_the_child_and_removes_the_store(
    levels: TinyLevels, tmp_path: Path
) -> None:
    cancel = CancelToken()
    job = compare_files(
        levels.f16, [levels.q8_0],
        MeasureOptions(**{**SMALL_RUN, "speed_repeats": 50}, use_cache=False),
        cancel=cancel, work_folder=tmp_path,
    )  # fmt: skip

    def cancel_once_speed_runs(event: Progress) -> None:
        if event.stage.endswith(": speed"):
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_job(job, cancel_once_speed_runs)
    assert list(tmp_path.iterdir()) == []  # the autouse fixture checks that no child is left


def test_dropping_the_job_stops_the_child(levels: TinyLevels, tmp_path: Path) -> None:
    job = compare_files(
        levels.f16, [levels.q8_0],
        MeasureOptions(**{**SMALL_RUN, "speed_repeats": 50}, use_cache=False),
        work_folder=tmp_path,
    )  # fmt: skip
    for event in job:
        if event.stage.endswith(": quality"):
            break
    job.close()
    assert list(tmp_path.iterdir()) == []


def test_matrices_are_counted_per_weight_type_for_the_time_model(levels: TinyLevels) -> None:
    """Batched evaluation is priced per weight type: the facts sum each type's weights and
    output rows over the body's matrices (norms left out), the same matrices at every level."""
    from desktop.engine.measure.time_estimate import batch_token_seconds

    head_dim = SHAPE.n_embd // SHAPE.n_head
    kv_dim = SHAPE.n_head_kv * head_dim
    rows = SHAPE.n_layer * (3 * SHAPE.n_embd + 2 * kv_dim + 2 * SHAPE.n_ff)
    weights = SHAPE.n_layer * SHAPE.n_embd * (2 * SHAPE.n_embd + 2 * kv_dim + 3 * SHAPE.n_ff)
    f16, q2_k = read_file_facts(levels.f16), read_file_facts(levels.q2_k)
    assert [tuple(share) for share in f16.body_matrices] == [("F16", weights, rows)]
    assert [share.type_name for share in f16.logit_matrices] == ["F16"]
    assert sum(share.weights for share in q2_k.body_matrices) == weights
    assert sum(share.rows for share in q2_k.body_matrices) == rows
    assert "F16" not in {share.type_name for share in q2_k.body_matrices}
    # ggml's K-quant kernels do more weights per second than its F16 ones on the CPU.
    assert batch_token_seconds(q2_k.body_matrices) < batch_token_seconds(f16.body_matrices)
