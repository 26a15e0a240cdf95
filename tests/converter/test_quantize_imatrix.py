"""Quantizing with an importance matrix: IQ levels, llama.cpp's tensor types, metadata, refusals."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import MappingProxyType

import gguf
import numpy as np
import pytest

from converter.errors import QuantizationError
from converter.gguf_header import read_gguf_header
from converter.imatrix_file import ImatrixEntry, ImatrixError, ImportanceMatrix
from converter.levels import IMATRIX_LEVELS, level, quantized_levels
from converter.model_summary import summarize
from converter.progress import run_job
from converter.quant_mix import predict_quantized_size, predict_tensor_types
from converter.quantize import Calibration, quantize_gguf, quantize_ladder
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

#: Row lengths that are multiples of 256, so every IQ type applies without a fallback; eight
#: layers make the first-eighth rules (ffn_down) differ from the rest only at layer 0.
_SHAPE = TinyModelShape(n_layer=8, n_embd=256, n_head=4, n_head_kv=1, n_ff=512)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("imatrix") / "tiny-F16.gguf", _SHAPE)


def _ones_matrix(model: Path, dataset: str = "notes.txt") -> ImportanceMatrix:
    """A matrix of the right shape for every ``blk.*`` weight (types do not depend on values)."""
    header = read_gguf_header(model)
    entries = {
        t.name: ImatrixEntry(np.ones((1, t.shape[0]), np.float32), np.array([512], np.int64))
        for t in header.tensors
        if t.name.startswith("blk.") and len(t.shape) == 2
    }
    return ImportanceMatrix(MappingProxyType(entries), (dataset,), 7, 512)


def test_iq_levels_are_offered_only_with_a_matrix() -> None:
    assert not set(IMATRIX_LEVELS) & set(quantized_levels(with_imatrix=False))
    offered = quantized_levels(with_imatrix=True)
    assert set(IMATRIX_LEVELS) <= set(offered)
    assert [lv.bits_per_weight for lv in offered] == sorted(lv.bits_per_weight for lv in offered)


def test_iq_level_without_a_matrix_is_refused_with_the_reason(source: Path, tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match="IQ3_S needs an importance matrix"):
        quantize_gguf(source, "IQ3_S", out_path=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_calibrated_levels_get_llama_cpp_types_sizes_and_metadata(
    source: Path, tmp_path: Path
) -> None:
    names = ["IQ2_M", "IQ3_XXS", "IQ3_M", "IQ4_XS", "Q4_0"]
    calibration = Calibration(_ones_matrix(source), "tiny.imatrix.gguf")
    written = run_job(
        quantize_ladder(source, names, out_dir=tmp_path, threads=2, calibration=calibration)
    )

    summary = summarize(read_gguf_header(source))
    for file in written:
        assert file.path.name == f"tiny-{file.level}-imatrix.gguf"
        reader = gguf.GGUFReader(file.path)
        actual = {t.name: t.tensor_type.name for t in reader.tensors}
        predicted = predict_tensor_types(summary, level(file.level), has_imatrix=True)
        assert actual == {name: predicted[name] for name in actual}, file.level
        size = predict_quantized_size(summary, level(file.level), has_imatrix=True)
        assert abs(size - file.size_bytes) <= 0.001 * file.size_bytes, file.level
        fields = {k: f.contents() for k, f in reader.fields.items() if k.startswith("quantize.")}
        assert fields == {
            "quantize.imatrix.file": "tiny.imatrix.gguf",
            "quantize.imatrix.dataset": "notes.txt",
            "quantize.imatrix.entries_count": 8 * 7,
            "quantize.imatrix.chunks_count": 7,
        }
    types = {f.level: {t.name: t.tensor_type.name for t in gguf.GGUFReader(f.path).tensors}
             for f in written}  # fmt: skip
    # rules that only apply with a matrix: Q4_0's first ffn_down and IQ3_XXS's attn_v
    assert types["Q4_0"]["blk.0.ffn_down.weight"] == "Q4_1"
    assert types["IQ3_XXS"]["blk.1.attn_v.weight"] == "Q4_K"  # 4 query heads per kv head


def test_matrix_of_another_model_is_refused_before_anything_is_written(
    source: Path, tmp_path: Path
) -> None:
    other = write_tiny_gguf(tmp_path / "other.gguf", TinyModelShape(n_embd=512, n_ff=1024))
    calibration = Calibration(_ones_matrix(other), "other.imatrix.gguf")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ImatrixError, match=r"blk\.0\.attn_k\.weight"):
        quantize_gguf(source, "Q2_K", out_path=out, calibration=calibration)
    assert list(out.iterdir()) == []


def test_the_space_for_every_level_is_checked_before_the_first(
    source: Path, tmp_path: Path
) -> None:
    """What the wizard and `quantdesk convert` check after converting, before quantizing."""
    from converter.errors import NotEnoughDiskSpace
    from converter.quantize import check_ladder

    check_ladder(source, ["Q8_0", "Q4_0"], out_dir=tmp_path)  # fits: nothing is written
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(NotEnoughDiskSpace, match="Not enough disk space"):
        check_ladder(source, ["Q8_0", "Q4_0"], out_dir=tmp_path, reserve_bytes=free)
    assert list(tmp_path.iterdir()) == []
