"""A sampler chain handed only the tokens that can pass its top-k cut draws exactly what it
draws over the whole vocabulary: on real llama.cpp logits (a tiny random-weight model with a
32k vocabulary), step by step against llama.cpp's own ``llama_sampler_sample`` with the same
links and seed, with repetition penalties that push recent tokens down and up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop.engine.worker.loader import load_model
from desktop.engine.worker.logits_rows import LogitsRows
from desktop.engine.worker.sampler_chain import SamplerChain, _links
from desktop.engine.worker.settings import LoadSettings, SamplingSettings
from desktop.engine.worker.top_candidates import TopCandidates
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

STEPS = 160


def _penalised(logits: np.ndarray, recent: list[int], penalty: float) -> np.ndarray:
    """llama.cpp's repetition penalty: divide a positive logit, multiply a negative one."""
    out = logits.copy()
    for token in set(recent):
        out[token] = out[token] / penalty if out[token] > 0 else out[token] * penalty
    return out


@pytest.mark.parametrize("penalty", [1.0, 0.5, 3.0])
def test_the_candidates_hold_the_top_k_after_any_penalty(penalty: float) -> None:
    rng = np.random.default_rng(7)
    keep, window = 40, 64
    for trial in range(60):
        logits = rng.standard_normal(50_000).astype(np.float32) * 3
        if trial % 3 == 0:  # ties and a masked region, as real vocabularies have
            logits[::5] = np.round(logits[::5])
            logits[1000:3000] = -np.inf
        top = TopCandidates(len(logits), keep=keep, recent=window if penalty != 1.0 else 0)
        recent = [int(t) for t in rng.integers(0, len(logits), window)]
        recent[:8] = [int(t) for t in np.argsort(logits)[-8:]]  # penalise some of the best
        if penalty != 1.0:
            for token in recent:
                top.accepted(token)
        ids = top.ids(logits)
        assert ids is not None and len(ids) < 1_000
        after = _penalised(logits, recent, penalty) if penalty != 1.0 else logits
        kth = np.sort(after)[-keep]
        assert set(np.flatnonzero(after > kth)) <= set(ids.tolist())
        assert np.count_nonzero(after[ids] >= kth) >= keep


def test_nan_logits_fall_back_to_the_whole_vocabulary() -> None:
    logits = np.full(50_000, np.nan, dtype=np.float32)
    assert TopCandidates(len(logits), keep=40, recent=0).ids(logits) is None


SETTINGS = {
    "chat defaults": SamplingSettings(seed=3),
    "penalty raising recent tokens": SamplingSettings(seed=4, repeat_penalty=0.5, top_k=20),
    "greedy after a penalty": SamplingSettings(temperature=0.0, repeat_penalty=1.3),
    "no penalty": SamplingSettings(seed=5, temperature=1.0, repeat_penalty=1.0),
}


def test_chain_draws_as_over_the_whole_vocabulary(tmp_path: Path) -> None:
    import llama_cpp

    model = write_tiny_gguf(tmp_path / "wide.gguf", TinyModelShape(n_vocab=32_000), never_ends=True)
    llama, _info = load_model(
        model,
        LoadSettings(ctx_tokens=512, threads=1),
        on_progress=lambda _fraction: None,
        cancelled=lambda: False,
    )
    ctx = llama.ctx
    n_vocab = llama.n_vocab()
    batch = llama_cpp.llama_batch_init(1, 0, 1)
    memory = llama_cpp.llama_get_memory(ctx)
    rows = LogitsRows(ctx, n_vocab)
    try:
        for name, settings in SETTINGS.items():
            cut = SamplerChain(settings, n_vocab=n_vocab)
            assert cut._top is not None, name  # the path under test, not the fallback
            whole = llama_cpp.llama_sampler_chain_init(
                llama_cpp.llama_sampler_chain_default_params()
            )
            for link in _links(llama_cpp, settings, n_vocab):
                llama_cpp.llama_sampler_chain_add(whole, link)
            llama_cpp.llama_memory_clear(memory, True)
            token, drawn = 1, []
            for position in range(STEPS):
                batch.n_tokens = 1
                batch.token[0], batch.pos[0] = token, position
                batch.n_seq_id[0], batch.seq_id[0][0], batch.logits[0] = 1, 0, 1
                assert llama_cpp.llama_decode(ctx, batch) == 0
                expected = int(llama_cpp.llama_sampler_sample(whole, ctx, 0))
                token = cut.sample(rows, 0)
                assert token == expected, f"{name}: step {position}"
                drawn.append(token)
            cut.close()
            llama_cpp.llama_sampler_free(whole)
            assert len(set(drawn)) > 10, name  # the draws really vary
    finally:
        llama_cpp.llama_batch_free(batch)
        llama.close()
