"""``quantdesk imatrix``, and ``quantize``/``convert`` with ``--imatrix``, end to end."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from converter.imatrix_file import read_imatrix
from desktop.cli import main
from tests.support.checkpoints import build_checkpoint
from tests.support.gguf_factory import write_tiny_gguf


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("cli") / "tiny-F16.gguf")


def _quantize_fields(path: Path) -> dict[str, object]:
    reader = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in reader.fields.items() if k.startswith("quantize.")}


def test_imatrix_then_quantize_with_the_file(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "domain.txt"
    text.write_text("calibrate me on words like these, again and again. " * 60)
    matrix_file = tmp_path / "tiny.imatrix.gguf"

    code = main(["imatrix", str(tiny), "--text", str(text), "-o", str(matrix_file), "--ctx", "64"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "chunks of 64 tokens, about" in captured.err and "on the CPU" in captured.err
    assert "left" in captured.err
    assert str(matrix_file) in captured.out
    assert read_imatrix(matrix_file).datasets == ("domain.txt",)

    out = tmp_path / "out"
    code = main(["quantize", str(tiny), "--level", "IQ4_XS", "--imatrix", str(matrix_file),
                 "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    written = out / "tiny-IQ4_XS-imatrix.gguf"
    assert _quantize_fields(written)["quantize.imatrix.file"] == "tiny.imatrix.gguf"


def test_iq_level_without_a_matrix_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["quantize", str(tiny), "--level", "IQ2_XXS", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and "IQ2_XXS needs an importance matrix" in err
    assert "Traceback" not in err


def test_binary_calibration_text_is_refused(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["imatrix", str(tiny), "--text", str(tiny), "-o", str(tmp_path / "m.gguf")])
    err = capsys.readouterr().err
    assert code != 0 and "binary file, not plain text" in err
    assert not (tmp_path / "m.gguf").exists()


def test_convert_with_imatrix_auto_calibrates_on_the_given_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = build_checkpoint("llama", tmp_path / "tiny-llama")
    text = tmp_path / "notes"
    text.mkdir()
    (text / "a.txt").write_text("a short domain text about ships and harbours. " * 120)
    out = tmp_path / "out"
    code = main(["convert", str(checkpoint), "--out", str(out), "--quant", "Q2_K",
                 "--imatrix", "auto", "--text", str(text)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["tiny-llama-F16.gguf", "tiny-llama-F16.imatrix.gguf",
                     "tiny-llama-Q2_K-imatrix.gguf"]  # fmt: skip
    fields = _quantize_fields(out / "tiny-llama-Q2_K-imatrix.gguf")
    assert fields["quantize.imatrix.dataset"] == "notes"
    assert fields["quantize.imatrix.file"] == "tiny-llama-F16.imatrix.gguf"
