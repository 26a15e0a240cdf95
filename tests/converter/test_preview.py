"""Header-only previews of a conversion, and ``quantdesk fit`` on a checkpoint folder.

The preview must describe the very file the conversion writes: its summary and memory
estimate are compared with those of the real converted F16 file, and the ladder predicted
from the preview with files llama.cpp's quantizer really writes.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from converter.convert import convert_checkpoint
from converter.errors import UnsupportedArchitecture
from converter.levels import LEVELS
from converter.model_summary import GGUFSummary, read_gguf_summary
from converter.preview import write_header_preview
from converter.progress import run_job
from converter.quantize import quantize_gguf
from desktop.cli import main
from desktop.engine.memory_model import estimate_memory
from tests.support.checkpoints import build_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint("llama", tmp_path_factory.mktemp("ck") / "tiny-llama", dtype="float16")


@pytest.fixture(scope="module")
def converted(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("converted")
    return run_job(convert_checkpoint(checkpoint, out)).path


def _shape_facts(summary: GGUFSummary) -> dict[str, object]:
    """Everything in the summary but the header object (whose path and file size differ)."""
    return {f.name: getattr(summary, f.name) for f in fields(summary) if f.name != "header"}


def test_preview_describes_the_converted_file(
    checkpoint: Path, converted: Path, tmp_path: Path
) -> None:
    preview = write_header_preview(checkpoint, tmp_path)
    assert preview == tmp_path / "tiny-llama-F16.preview.gguf"
    assert list(tmp_path.iterdir()) == [preview]  # no partial file left behind
    real, predicted = read_gguf_summary(converted), read_gguf_summary(preview)
    assert _shape_facts(predicted) == _shape_facts(real)
    assert predicted.header.metadata == real.header.metadata
    assert predicted.header.tensors == real.header.tensors
    assert predicted.header.header_bytes == real.header.header_bytes
    assert preview.stat().st_size < real.header.header_bytes + 64
    assert real.is_complete and not predicted.is_complete
    for ctx in (512, 2048):
        assert estimate_memory(predicted, ctx_tokens=ctx) == estimate_memory(real, ctx_tokens=ctx)


def test_preview_honours_outtype_and_name(checkpoint: Path, tmp_path: Path) -> None:
    preview = write_header_preview(checkpoint, tmp_path, outtype="f32", name="renamed")
    assert preview.name == "renamed-F32.preview.gguf"
    summary = read_gguf_summary(preview)
    assert summary.header.metadata["general.name"] == "renamed"
    assert {t.type_name for t in summary.header.tensors} == {"F32"}


def test_unsupported_checkpoint_writes_nothing(checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in checkpoint.iterdir():
        (broken / path.name).symlink_to(path)
    (broken / "config.json").unlink()
    config = json.loads((checkpoint / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "architectures": ["FooForLM"]}))
    dest = tmp_path / "previews"
    with pytest.raises(UnsupportedArchitecture, match="FooForLM is not supported"):
        write_header_preview(broken, dest)
    assert not dest.exists() or not any(dest.iterdir())


def test_fit_ladder_from_a_folder_matches_real_quantized_files(
    checkpoint: Path, converted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fit", str(checkpoint), "--ladder", "--json", "--ctx", "512"]) == 0
    ladder = json.loads(capsys.readouterr().out)["levels"]
    assert [entry["level"] for entry in ladder] == [level.name for level in LEVELS]
    assert all(entry["plan"]["verdict"] != "wont_fit" for entry in ladder)
    sizes = {entry["level"]: entry["size_bytes"] for entry in ladder}
    for level in ("Q4_K_M", "Q8_0"):
        job = quantize_gguf(converted, level, out_path=tmp_path, threads=1)
        real = run_job(job).size_bytes
        assert abs(sizes[level] - real) <= 0.02 * real, (level, sizes[level], real)
    assert main(["fit", str(converted), "--ladder", "--json", "--ctx", "512"]) == 0
    from_gguf = json.loads(capsys.readouterr().out)["levels"]
    assert [e["size_bytes"] for e in from_gguf] == [e["size_bytes"] for e in ladder]


def test_fit_of_a_folder_without_ladder_plans_the_converted_file(
    checkpoint: Path, converted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fit", str(checkpoint), "--json", "--ctx", "512"]) == 0
    from_folder = json.loads(capsys.readouterr().out)["plan"]
    assert main(["fit", str(converted), "--json", "--ctx", "512"]) == 0
    assert from_folder == json.loads(capsys.readouterr().out)["plan"]
    assert main(["fit", str(checkpoint), "--ladder", "--ctx", "512"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("tiny-llama: llama, 2 layers")
    assert [line.split()[0] for line in table[2:]] == [level.name for level in LEVELS]


def test_ladder_refuses_a_quantized_file(
    converted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = quantize_gguf(converted, "Q4_0", out_path=tmp_path, threads=1)
    q4 = run_job(job).path
    assert main(["fit", str(q4), "--ladder"]) == 1
    assert "already quantized" in capsys.readouterr().err
    assert main(["fit", str(converted), "--ladder", "--gpu-layers", "3"]) == 1
    assert "leave out --gpu-layers" in capsys.readouterr().err
