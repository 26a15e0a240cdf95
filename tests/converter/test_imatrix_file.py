"""Importance-matrix files: llama-imatrix's GGUF layout, the legacy .dat, and model checks."""

from __future__ import annotations

import struct
from pathlib import Path
from types import MappingProxyType

import gguf
import numpy as np
import pytest

from converter.imatrix_file import (
    ImatrixEntry,
    ImatrixError,
    ImportanceMatrix,
    check_matches_model,
    read_imatrix,
    write_imatrix,
)


def _matrix() -> ImportanceMatrix:
    rng = np.random.default_rng(3)
    entries = {
        "blk.0.attn_q.weight": ImatrixEntry(
            rng.random((1, 8), dtype=np.float32) * 100, np.array([96], dtype=np.int64)
        ),
        "blk.0.ffn_up_exps.weight": ImatrixEntry(
            rng.random((4, 8), dtype=np.float32), np.array([10, 0, 30, 56], dtype=np.int64)
        ),
    }
    return ImportanceMatrix(MappingProxyType(entries), ("notes.txt",), 3, 32)


def test_gguf_file_has_llama_imatrix_layout_and_reads_back(tmp_path: Path) -> None:
    path = write_imatrix(_matrix(), tmp_path / "m.imatrix.gguf")

    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.type"] == "imatrix"
    assert "general.architecture" not in fields
    assert fields["imatrix.datasets"] == ["notes.txt"]
    assert (fields["imatrix.chunk_count"], fields["imatrix.chunk_size"]) == (3, 32)
    shapes = {t.name: (t.tensor_type.name, tuple(int(d) for d in t.shape)) for t in reader.tensors}
    assert shapes == {  # GGUF shapes list columns first, like ggml's ne
        "blk.0.attn_q.weight.counts": ("F32", (1, 1)),
        "blk.0.attn_q.weight.in_sum2": ("F32", (8, 1)),
        "blk.0.ffn_up_exps.weight.counts": ("F32", (1, 4)),
        "blk.0.ffn_up_exps.weight.in_sum2": ("F32", (8, 4)),
    }
    back = read_imatrix(path)
    assert (back.datasets, back.chunk_count, back.chunk_size, back.legacy) == (
        ("notes.txt",), 3, 32, False,
    )  # fmt: skip
    for name, entry in _matrix().entries.items():
        assert np.array_equal(back.entries[name].sums, entry.sums)
        assert np.array_equal(back.entries[name].counts, entry.counts)


def test_quantizer_values_are_means_and_unreached_experts_get_ones() -> None:
    values = _matrix().quantizer_values()
    entry = _matrix().entries["blk.0.ffn_up_exps.weight"]
    experts = values["blk.0.ffn_up_exps.weight"].reshape(4, 8)
    assert np.allclose(experts[0], entry.sums[0] / 10)
    assert np.array_equal(experts[1], np.ones(8, dtype=np.float32))
    assert values["blk.0.attn_q.weight"].dtype == np.float32


def _legacy_bytes(entries: dict[str, tuple[int, np.ndarray]], chunks: int, dataset: str) -> bytes:
    """The legacy layout as llama-imatrix's --output-format dat writes it."""
    out = struct.pack("<i", len(entries))
    for name, (ncall, values) in entries.items():
        out += struct.pack("<i", len(name)) + name.encode()
        out += struct.pack("<ii", ncall, values.size) + values.astype("<f4").tobytes()
    return out + struct.pack("<ii", chunks, len(dataset)) + dataset.encode()


def test_legacy_dat_is_read_as_llama_quantize_reads_it(tmp_path: Path) -> None:
    stored = np.array([2.0, 4.0, 8.0], dtype=np.float32)  # mean * ncall
    path = tmp_path / "imatrix.dat"
    path.write_bytes(_legacy_bytes({"blk.3.ffn_down.weight": (4, stored)}, 4, "wiki.train.raw"))

    matrix = read_imatrix(path)

    assert matrix.legacy and matrix.chunk_count == 4 and matrix.dataset == "wiki.train.raw"
    values = matrix.quantizer_values()["blk.3.ffn_down.weight"]
    assert np.allclose(values, stored / 4)


def test_legacy_dat_without_trailer_still_reads(tmp_path: Path) -> None:
    full = _legacy_bytes({"blk.0.attn_k.weight": (1, np.ones(4, np.float32))}, 1, "x")
    path = tmp_path / "old.dat"
    path.write_bytes(full[: -(8 + 1)])
    matrix = read_imatrix(path)
    assert matrix.chunk_count == 0 and matrix.datasets == ()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "neither a GGUF importance matrix nor a legacy"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "neither a GGUF importance matrix nor a legacy"),
    ],
)
def test_unreadable_files_are_refused_in_one_sentence(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bad.dat"
    path.write_bytes(content)
    with pytest.raises(ImatrixError, match=expected):
        read_imatrix(path)
    with pytest.raises(ImatrixError, match="does not exist"):
        read_imatrix(tmp_path / "missing.gguf")


def test_a_model_gguf_is_not_taken_for_a_matrix(tmp_path: Path) -> None:
    from tests.support.gguf_factory import write_tiny_gguf

    model = write_tiny_gguf(tmp_path / "tiny.gguf")
    with pytest.raises(ImatrixError, match="holds no data"):
        read_imatrix(model)


def test_matrix_of_another_model_names_the_first_mismatch() -> None:
    matrix = _matrix()
    model = {"blk.0.attn_q.weight": (8, 8), "blk.0.ffn_up_exps.weight": (8, 16, 4)}
    check_matches_model(matrix, model)  # matches

    with pytest.raises(ImatrixError, match=r"blk\.0\.attn_q\.weight, which takes 16"):
        check_matches_model(matrix, {**model, "blk.0.attn_q.weight": (16, 8)})
    with pytest.raises(ImatrixError, match=r"data for blk\.0\.ffn_up_exps\.weight, which the"):
        check_matches_model(matrix, {"blk.0.attn_q.weight": (8, 8)})
