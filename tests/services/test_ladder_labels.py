"""A calibrated and an uncalibrated file of one level stand side by side in the ladder."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import numpy as np

from converter.gguf_header import read_gguf_header
from converter.imatrix_file import ImatrixEntry, ImportanceMatrix
from converter.progress import run_job
from converter.quantize import Calibration, quantize_gguf
from desktop.services.ladder_data import ladder_points
from desktop.services.library import read_facts
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf


def test_the_calibrated_file_of_a_level_is_its_own_labelled_point(tmp_path: Path) -> None:
    source = write_tiny_gguf(
        tmp_path / "tiny-F16.gguf", TinyModelShape(n_layer=2, n_embd=256, n_ff=512)
    )
    entries = {
        t.name: ImatrixEntry(np.ones((1, t.shape[0]), np.float32), np.array([512], np.int64))
        for t in read_gguf_header(source).tensors
        if t.name.startswith("blk.") and len(t.shape) == 2
    }
    matrix = ImportanceMatrix(MappingProxyType(entries), ("notes.txt",), 1, 512)
    plain = run_job(quantize_gguf(source, "Q4_0", out_path=tmp_path))
    calibrated = run_job(
        quantize_gguf(
            source, "Q4_0", out_path=tmp_path, calibration=Calibration(matrix, "m.imatrix.gguf")
        )
    )
    assert plain.path != calibrated.path

    files = [read_facts(path) for path in (source, plain.path, calibrated.path)]
    points = ladder_points(files, None, 512, "f16")

    assert [p.level for p in points] == ["F16", "Q4_0", "Q4_0 calibrated"]
    assert [p.path for p in points] == [source, plain.path, calibrated.path]
