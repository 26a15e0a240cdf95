"""Collecting an importance matrix with llama.cpp's eval callback, on the tiny random model."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import gguf
import numpy as np
import pytest

from converter.errors import Cancelled
from converter.progress import CancelToken, Progress, run_job
from desktop.engine.calibration_text import (
    CalibrationText,
    CalibrationTextError,
    load_calibration_text,
)
from desktop.engine.imatrix_backend_sums import SumsWhere
from desktop.engine.imatrix_collector import (
    CollectedStats,
    CollectSettings,
    collect_imatrix,
    collect_in_child,
)
from desktop.engine.measure.child_job import child_job
from desktop.engine.measure.eval_text import BUNDLED_TEXT_PATH
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.tokenizer_helpers import llama_cpp_tokenize_many

_CTX = 64
_TEXT = CalibrationText("the quick brown fox jumps over the lazy dog. " * 40, "fox.txt")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("collect") / "tiny.gguf")


def _layer0_input_squares(model: Path, text: str, n_chunks: int) -> np.ndarray:
    """What enters blk.0.attn_q, computed in numpy: RMS-normed embeddings (norm weights 1)."""
    (ids,) = llama_cpp_tokenize_many([(model, [text])])[0]
    tokens = [1, *ids]  # BOS, as the vocabulary asks
    reader = gguf.GGUFReader(model)
    embd = next(t for t in reader.tensors if t.name == "token_embd.weight")
    table = np.asarray(embd.data, dtype=np.float32)
    total = np.zeros(table.shape[1])
    for index in range(n_chunks):
        chunk = list(tokens[index * _CTX : (index + 1) * _CTX])
        chunk[0] = 1
        x = table[chunk].astype(np.float64)
        normed = x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-5)
        total += (normed * normed).sum(axis=0)
    return total


def test_collected_sums_match_the_inputs_llama_cpp_multiplies(tiny: Path) -> None:
    events: list[Progress] = []
    matrix = run_job(collect_imatrix(tiny, _TEXT, ctx_tokens=_CTX, threads=2), events.append)

    n_chunks = events[-1].total
    assert n_chunks >= 2 and [e.done for e in events] == list(range(n_chunks + 1))
    assert all(e.unit == "chunks" for e in events) and "left" in events[-1].message
    # Before the first chunk: the plan, and on the CPU how long it will take.
    assert re.fullmatch(
        rf"{n_chunks} chunks of {_CTX} tokens, about \d+ s on the CPU", events[0].message
    )
    kinds = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
    weights = {f"blk.{i}.{kind}.weight" for i in range(2) for kind in kinds}
    assert set(matrix.entries) == weights  # output.weight is not a blk.* weight
    assert (matrix.chunk_count, matrix.chunk_size, matrix.datasets) == (
        n_chunks,
        _CTX,
        ("fox.txt",),
    )
    for entry in matrix.entries.values():
        assert entry.counts.tolist() == [n_chunks * _CTX]
    q = matrix.entries["blk.0.attn_q.weight"].sums[0]
    assert np.array_equal(q, matrix.entries["blk.0.attn_k.weight"].sums[0])
    reference = _layer0_input_squares(tiny, _TEXT.text, n_chunks)
    assert np.allclose(q, reference, rtol=2e-4)
    assert matrix.entries["blk.1.ffn_down.weight"].sums.shape == (1, 512)


def test_sums_taken_by_the_backend_graph_equal_numpy_s(tiny: Path) -> None:
    """The graph that sums a GPU's inputs where they lie, run here by the CPU backend on the
    CPU's inputs: the same sums as numpy's over host memory, within float32 rounding."""

    def collect(where: SumsWhere) -> CollectedStats:
        settings = CollectSettings(_CTX, None, 2, True, 0, where)
        job = child_job(collect_in_child, str(tiny), _TEXT.text, settings, what="collecting")
        return run_job(job)

    on_backend, with_numpy = collect(SumsWhere.BACKEND), collect(SumsWhere.HOST)
    default = collect(SumsWhere.DEVICE_INPUTS_ON_DEVICE)
    # Four distinct inputs a layer and chunk (q/k/v and gate/up share theirs), all on the
    # backend; none there by default on a CPU, nor when told to use numpy.
    assert on_backend.backend_summed == 4 * 2 * on_backend.n_chunks
    assert with_numpy.backend_summed == default.backend_summed == 0
    assert on_backend.sums.keys() == with_numpy.sums.keys()
    for name, sums in with_numpy.sums.items():
        assert np.allclose(on_backend.sums[name], sums, rtol=1e-5), name
        assert np.array_equal(on_backend.counts[name], with_numpy.counts[name])
        assert np.array_equal(default.sums[name], sums)


def test_cancel_stops_the_child(tiny: Path) -> None:
    cancel = CancelToken()
    long_text = CalibrationText(_TEXT.text * 20, "long.txt")
    job = collect_imatrix(tiny, long_text, ctx_tokens=_CTX, threads=1, cancel=cancel)

    def cancel_after_first(event: Progress) -> None:
        if event.done == 1:
            threading.Timer(0.01, cancel.cancel).start()

    with pytest.raises(Cancelled):
        run_job(job, cancel_after_first)


def test_text_too_short_for_one_chunk_is_refused(tiny: Path) -> None:
    with pytest.raises(CalibrationTextError, match="needs at least 512"):
        run_job(collect_imatrix(tiny, CalibrationText("a few words", "x.txt"), ctx_tokens=512))


def test_empty_binary_and_missing_texts_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    binary = tmp_path / "weights.bin"
    binary.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(100))
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    with pytest.raises(CalibrationTextError, match=r"empty\.txt is empty"):
        load_calibration_text(empty)
    with pytest.raises(CalibrationTextError, match="binary file, not plain text"):
        load_calibration_text(binary)
    with pytest.raises(CalibrationTextError, match="not UTF-8"):
        load_calibration_text(latin)
    with pytest.raises(CalibrationTextError, match="does not exist"):
        load_calibration_text(tmp_path / "missing.txt")
    with pytest.raises(CalibrationTextError, match=r"no \.txt or \.md files"):
        load_calibration_text(_empty_folder(tmp_path))


def _empty_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "image.png").write_bytes(b"\x89PNG")
    return folder


def test_a_folder_is_read_in_name_order_and_the_bundled_text_is_not_the_eval_text(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "notes"
    (folder / "b").mkdir(parents=True)
    (folder / "b" / "2.md").write_text("second")
    (folder / "1.txt").write_text("first")
    text = load_calibration_text(folder)
    assert (text.text, text.name) == ("first\n\nsecond", "notes")

    bundled = load_calibration_text()
    assert len(bundled.text) > 100_000
    evaluation = BUNDLED_TEXT_PATH.read_text(encoding="utf-8")
    assert bundled.text[:2000] not in evaluation and evaluation[:2000] not in bundled.text


def test_mixture_of_experts_weights_are_collected_per_expert(tmp_path: Path) -> None:
    from converter.convert import convert_checkpoint
    from converter.quantize import Calibration, quantize_gguf
    from tests.support.checkpoints import build_checkpoint

    folder = build_checkpoint("qwen3-moe", tmp_path / "qwen3-moe")  # 4 experts, top 2
    f16 = run_job(convert_checkpoint(folder, tmp_path / "out")).path
    matrix = run_job(collect_imatrix(f16, _TEXT, ctx_tokens=_CTX, threads=2))

    tokens = matrix.chunk_count * _CTX
    for kind in ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"):
        entry = matrix.entries[f"blk.0.{kind}.weight"]
        assert entry.n_matrices == 4 and int(entry.counts.sum()) == 2 * tokens, kind
    up, gate = (matrix.entries[f"blk.0.{k}.weight"] for k in ("ffn_up_exps", "ffn_gate_exps"))
    assert np.array_equal(up.counts, gate.counts) and np.allclose(up.sums, gate.sums)
    assert matrix.entries["blk.0.ffn_down_exps.weight"].n_columns == 256
    # llama.cpp accepts the layout: one row of sums per expert, as its quantizer reads them
    calibrated = run_job(
        quantize_gguf(f16, "Q2_K", out_path=tmp_path, calibration=Calibration(matrix, "m.gguf"))
    )
    assert calibrated.path.name.endswith("-Q2_K-imatrix.gguf")
