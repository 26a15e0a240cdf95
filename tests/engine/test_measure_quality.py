"""Quality measurement on real llama.cpp runs of tiny random models.

Golden references are the definitions, computed here with numpy from the logits llama.cpp
itself returns (obtained independently of the code under test), not earlier outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converter.child_process import run_in_child
from converter.errors import QuantdeskError
from converter.progress import run_job
from desktop.engine.measure.eval_text import (
    BUNDLED_TEXT_PATH,
    EvalText,
    EvalTextError,
    chunk_tokens,
    load_eval_text,
    plan_chunks,
)
from desktop.engine.measure.quality import (
    QualityComparison,
    QualitySettings,
    VocabularyMismatch,
    candidate_pass,
    measure_quality,
    reference_pass,
)
from desktop.engine.measure.reference_store import KEPT_RANGE_NATS, ReferenceStore
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf
from tests.support.measure_helpers import CTX, SHORT_TEXT, TinyLevels, build_levels

CHUNKS = 3


@pytest.fixture(scope="module")
def levels(tmp_path_factory: pytest.TempPathFactory) -> TinyLevels:
    return build_levels(tmp_path_factory.mktemp("levels"))


@pytest.fixture(scope="module")
def comparison(levels: TinyLevels) -> QualityComparison:
    job = measure_quality(
        levels.f16, [levels.f16, levels.q8_0, levels.q2_k],
        text=SHORT_TEXT, ctx_tokens=CTX, max_chunks=CHUNKS, threads=1,
    )  # fmt: skip
    return run_job(job)


def _direct_logits(emit: object, path: str, text: str, ctx: int, chunks: int) -> list:
    """Independent of the code under test: llama.cpp's logits for each chunk's scored half."""
    import llama_cpp

    from desktop.engine.llama_loading import open_llama

    llm = open_llama(path, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx, logits_all=True, n_threads=1)
    tokens = llm.tokenize(text.encode(), add_bos=True, special=False)
    adds_bos = llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model))
    out = []
    for i in range(chunks):
        chunk = tokens[i * ctx : (i + 1) * ctx]
        if adds_bos:
            chunk[0] = llm.token_bos()
        llm.reset()
        llm.eval(chunk)
        half = ctx // 2
        out.append((np.array(llm.scores[half : ctx - 1]), np.array(chunk[half + 1 :])))
    llm.close()
    return out


def _logits_of(path: Path) -> list:
    return run_in_child(_direct_logits, str(path), SHORT_TEXT, CTX, CHUNKS, what="direct logits")


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_reference_against_itself_scores_zero_kl_and_full_agreement(
    comparison: QualityComparison,
) -> None:
    itself = comparison.candidates[0]
    assert abs(itself.mean_kl) < 1e-6
    assert itself.same_top == 1.0
    assert itself.perplexity == pytest.approx(comparison.reference.perplexity, rel=1e-9)
    assert itself.positions == CHUNKS * (CTX - 1 - CTX // 2) == comparison.reference.positions


def test_quantized_levels_diverge_more_the_fewer_bits(comparison: QualityComparison) -> None:
    itself, q8_0, q2_k = comparison.candidates
    # The reference against itself is not exactly 0: the stored reference's encoding leaves a
    # floor (about 3e-7 here). Q8_0 stands clear of it, by 38x on an AVX2 CPU and more with
    # AVX-512 kernels (their rounding differs), so a tenfold margin, not a fiftyfold one.
    assert q8_0.mean_kl > max(1e-7, 10 * abs(itself.mean_kl))
    assert q2_k.mean_kl > 10 * q8_0.mean_kl
    assert q2_k.same_top < q8_0.same_top <= 1.0


def test_figures_match_their_definitions_computed_from_llama_logits(
    levels: TinyLevels, comparison: QualityComparison
) -> None:
    reference = _logits_of(levels.f16)
    candidate = _logits_of(levels.q2_k)
    nll_ref, nll_q, kl, same = [], [], [], []
    for (ref_logits, targets), (q_logits, q_targets) in zip(reference, candidate, strict=True):
        assert np.array_equal(targets, q_targets)
        log_p, log_q = _log_softmax(ref_logits), _log_softmax(q_logits)
        rows = np.arange(len(targets))
        nll_ref += list(-log_p[rows, targets])
        nll_q += list(-log_q[rows, targets])
        kl += list((np.exp(log_p) * (log_p - log_q)).sum(axis=1))
        same += list(ref_logits.argmax(axis=1) == q_logits.argmax(axis=1))
    measured = comparison.candidates[2]
    assert comparison.reference.perplexity == pytest.approx(np.exp(np.mean(nll_ref)), rel=1e-6)
    assert measured.perplexity == pytest.approx(np.exp(np.mean(nll_q)), rel=1e-6)
    # The on-disk encoding may move KL by ~1e-4 at most; the quantization effect is ~1e-2.
    assert measured.mean_kl == pytest.approx(np.mean(kl), abs=2e-5)
    assert measured.same_top == pytest.approx(np.mean(same))


def test_store_encoding_error_is_within_its_documented_bound(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((5, 1000)) * 6).astype(np.float32)
    targets = rng.integers(0, 1000, size=5)
    store = ReferenceStore.create(tmp_path, n_chunks=1, n_positions=5, n_vocab=1000, ctx=11)
    nll = store.write_chunk(0, list(range(11)), logits, targets)
    store.finish()
    exact = _log_softmax(logits)
    decoded = ReferenceStore.open(tmp_path).read_chunk(0)
    kept = exact > -KEPT_RANGE_NATS + 1e-3
    assert np.all(np.isfinite(decoded.log_probs[kept]))
    assert np.max(np.abs(decoded.log_probs[kept] - exact[kept])) <= 16 / 65535 / 2 + 1e-5
    assert np.array_equal(decoded.top_token, logits.argmax(axis=1))
    assert np.allclose(nll, -exact[np.arange(5), targets])


def test_reference_store_is_on_disk_with_the_expected_size(
    levels: TinyLevels, tmp_path: Path
) -> None:
    settings = QualitySettings(ctx_tokens=CTX, max_chunks=CHUNKS, threads=1)
    text = EvalText(SHORT_TEXT, "short")
    run_in_child(reference_pass, levels.f16, text, settings, tmp_path, what="reference pass")
    store = ReferenceStore.open(tmp_path)
    positions = CTX - 1 - CTX // 2
    assert (store.n_chunks, store.n_positions, store.n_vocab) == (CHUNKS, positions, 320)
    assert store.codes_path.stat().st_size == CHUNKS * positions * 320 * 2


def test_candidate_with_another_vocabulary_is_refused_before_running(
    levels: TinyLevels, tmp_path: Path
) -> None:
    other = write_tiny_gguf(tmp_path / "other-F16.gguf", TinyModelShape(n_layer=1, n_vocab=330))
    with pytest.raises(VocabularyMismatch, match="vocabulary of 330 tokens"):
        measure_quality(levels.f16, [levels.q8_0, other], text=SHORT_TEXT, work_folder=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["other-F16.gguf"]


def test_candidate_pass_checks_the_vocabulary_too(levels: TinyLevels, tmp_path: Path) -> None:
    """The child's own check, for a store made by another model (its message comes through)."""
    other = write_tiny_gguf(tmp_path / "other-F16.gguf", TinyModelShape(n_layer=1, n_vocab=330))
    settings = QualitySettings(ctx_tokens=CTX, max_chunks=2, threads=1)
    store = tmp_path / "store"
    store.mkdir()
    text = EvalText(SHORT_TEXT, "short")
    run_in_child(reference_pass, levels.f16, text, settings, store, what="reference pass")
    with pytest.raises(QuantdeskError, match="vocabulary of 330 tokens"):
        run_in_child(candidate_pass, other, store, settings, what="candidate pass")


def test_chunks_follow_llama_perplexity_layout() -> None:
    plan = plan_chunks(n_tokens=70, ctx_tokens=16, max_chunks=None)
    assert (plan.n_chunks, plan.first_scored, plan.scored_per_chunk) == (4, 8, 7)
    chunks = chunk_tokens(list(range(100, 170)), plan, bos_token=1)
    assert chunks[1] == [1, *range(117, 132)]
    assert plan_chunks(70, 16, max_chunks=2).n_chunks == 2
    with pytest.raises(EvalTextError, match="at least 32"):
        plan_chunks(n_tokens=31, ctx_tokens=16, max_chunks=None)


def test_eval_text_problems_are_explained(tmp_path: Path) -> None:
    bundled = load_eval_text()
    assert bundled.name == BUNDLED_TEXT_PATH.name
    assert 50_000 <= len(bundled.text.encode()) <= 150_000
    with pytest.raises(EvalTextError, match="does not exist"):
        load_eval_text(tmp_path / "missing.txt")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    with pytest.raises(EvalTextError, match="not UTF-8"):
        load_eval_text(latin1)


def test_the_evaluation_text_can_be_a_folder_and_binary_files_are_refused(tmp_path: Path) -> None:
    """The same reader as the calibration text: a folder of notes, and a clear refusal."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "b.md").write_text("second part", encoding="utf-8")
    (folder / "a.txt").write_text("first part", encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG\x00")
    text = load_eval_text(folder)
    assert text.text == "first part\n\nsecond part" and text.name == "notes"
    with pytest.raises(EvalTextError, match=r"evaluation text image\.png is a binary file"):
        load_eval_text(folder / "image.png")
