"""Sliding-window layers keep only their window of cells, as llama.cpp's server loads them.

The memory the fit predicts is what llama.cpp allocates, per parallel slot; a prompt that
branches off before the window the cache still holds is read again from the start, giving the
reply a fresh context gives, while the next turn of a conversation still reuses the cache;
and the same prompt again after a reply longer than the window starts from the copy of the
windowed cells taken before its last chunk, with the same greedy text.
Real llama.cpp, a tiny random-weight Gemma 3-shaped model (five of every six layers windowed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.engine.memory_model import estimate_memory
from desktop.engine.worker import InferenceWorker, LoadSettings, SamplingSettings
from tests.support.fit_measure import measure_llama_memory
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

MIB = 1024 * 1024
WINDOW = 64
BATCH_TOKENS = 64
LOAD = LoadSettings(ctx_tokens=2048, threads=1, batch_tokens=BATCH_TOKENS)
GREEDY = SamplingSettings.greedy(max_tokens=6)


@pytest.fixture(scope="module")
def windowed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shape = TinyModelShape(n_layer=6, architecture="gemma3", sliding_window=WINDOW)
    return write_tiny_gguf(tmp_path_factory.mktemp("swa") / "windowed.gguf", shape, never_ends=True)


@pytest.mark.parametrize("sequences", [1, 3])
def test_the_kv_cache_is_what_the_fit_predicts(windowed_model: Path, sequences: int) -> None:
    ctx = 4096 * sequences
    measured = measure_llama_memory(
        windowed_model, fill_tokens=512, n_ctx=ctx, sequences=sequences, swa_full=False
    )
    predicted = estimate_memory(windowed_model, ctx_tokens=ctx, sequences=sequences)
    full = estimate_memory(windowed_model, ctx_tokens=ctx, sequences=sequences, swa_full=True)
    assert abs(predicted.breakdown["kv_cpu"] - measured.buffers["kv_cache"]) <= 0.01 * MIB
    # the decode loop's copy of each slot's windowed cells is counted in RAM, at most as large
    windowed_cells = 5 * 768 * sequences * 2 * (64 + 64) * 2  # f16 K and V, 2 heads of 64
    assert predicted.breakdown["window_checkpoints"] == windowed_cells
    # 768 of each slot's 4096 cells in the windowed layers (64 + a 512-token batch, padded)
    assert predicted.breakdown["kv_cpu"] < 0.5 * full.breakdown["kv_cpu"]


def _words(start: int, count: int) -> str:
    return " ".join(f"abc{i % 7} def ghi{i % 5}" for i in range(start, start + count))


def test_a_prompt_branching_off_before_the_window_is_read_again(windowed_model: Path) -> None:
    long_prompt = _words(0, 120)
    with InferenceWorker() as worker, InferenceWorker() as fresh:
        worker.load(windowed_model, LOAD)
        tokens = len(worker.tokenize(long_prompt)[0])
        assert tokens > 4 * (WINDOW + BATCH_TOKENS)  # far more than the windowed layers keep
        first = worker.complete(long_prompt, GREEDY, on_token=lambda _piece: None)
        # the next turn of the same conversation builds on the whole cache
        follow_up = long_prompt + first.text + " jkl mno"
        reused = worker.complete(follow_up, GREEDY, on_token=lambda _piece: None)
        assert reused.cached_prompt_tokens >= tokens - 1
        # a prompt sharing only the first third: that part of the window is gone
        branch = _words(0, 40) + " pqr stu"
        branched = worker.complete(branch, GREEDY, on_token=lambda _piece: None)
        assert branched.cached_prompt_tokens == 0
        fresh.load(windowed_model, LOAD)
        assert fresh.complete(branch, GREEDY, on_token=lambda _piece: None).text == branched.text


def test_the_same_prompt_after_a_long_reply_starts_from_the_copied_window(
    windowed_model: Path,
) -> None:
    prompt = _words(0, 100)
    long_reply = SamplingSettings.greedy(max_tokens=4 * (WINDOW + BATCH_TOKENS))
    with InferenceWorker() as worker:
        worker.load(windowed_model, LOAD)
        tokens = len(worker.tokenize(prompt)[0])
        first = worker.complete(prompt, long_reply, on_token=lambda _piece: None)
        assert first.generated_tokens == long_reply.max_tokens  # the reply outran the window
        again = [
            worker.complete(prompt, long_reply, on_token=lambda _piece: None) for _ in range(2)
        ]
    # read from the copy taken before the prompt's last chunk, not from the start
    last_chunk = (tokens - 1) // BATCH_TOKENS * BATCH_TOKENS
    assert [reply.cached_prompt_tokens for reply in again] == [last_chunk, last_chunk]
    assert [reply.text for reply in again] == [first.text, first.text]
