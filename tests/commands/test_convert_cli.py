"""``quantdesk convert`` end to end, and ``inspect_checkpoint`` before any work."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gguf
import pytest
from safetensors import safe_open

from converter.convert import inspect_checkpoint
from desktop.cli import main
from tests.support.checkpoints import build_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint("qwen3", tmp_path_factory.mktemp("ck") / "tiny-qwen3")


def test_convert_and_quantize_json(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["convert", str(checkpoint), "--out", str(out), "--quant", "Q8_0", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    files = json.loads(captured.out)["files"]
    assert [f["level"] for f in files] == ["F16", "Q8_0"]
    assert [Path(f["path"]).name for f in files] == ["tiny-qwen3-F16.gguf", "tiny-qwen3-Q8_0.gguf"]
    assert sorted(p.name for p in out.iterdir()) == ["tiny-qwen3-F16.gguf", "tiny-qwen3-Q8_0.gguf"]
    for f in files:
        path = Path(f["path"])
        assert f["size_bytes"] == path.stat().st_size
        reader = gguf.GGUFReader(path)
        assert f["tensor_count"] == len(reader.tensors)
        assert f["architecture"] == "qwen3"
        arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
        assert arch is not None and arch.contents() == "qwen3"
    f16_types = {t.name: t.tensor_type for t in gguf.GGUFReader(files[0]["path"]).tensors}
    assert f16_types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    assert f16_types["blk.0.attn_q_norm.weight"] == gguf.GGMLQuantizationType.F32


def test_progress_goes_to_stderr(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["convert", str(checkpoint), "--out", str(tmp_path), "--outtype", "f32"])
    captured = capsys.readouterr()
    assert code == 0
    assert "convert" in captured.err
    assert captured.out.split()[0] == "F32"
    assert (tmp_path / "tiny-qwen3-F32.gguf").is_file()


def test_bad_level_is_refused_before_converting(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["convert", str(checkpoint), "--out", str(tmp_path / "o"), "--quant", "Q9_9"])
    assert code == 1
    assert "Unknown quantization level 'Q9_9'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_config_is_a_clean_cli_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["convert", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 1
    assert "has no config.json" in capsys.readouterr().err


def test_inspect_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    summary = inspect_checkpoint(checkpoint)
    assert summary.supported and summary.problem is None
    assert (summary.hf_class, summary.architecture) == ("Qwen3ForCausalLM", "qwen3")
    with safe_open(checkpoint / "model.safetensors", framework="pt") as weights:
        expected = sum(math.prod(weights.get_slice(k).get_shape()) for k in weights.keys())  # noqa: SIM118
    assert summary.parameter_count == expected
    assert (summary.dtype, summary.default_outtype, summary.tokenizer_kind) == (
        "float32",
        "f16",
        "tokenizer.json",
    )
    assert (summary.n_layer, summary.n_embd, summary.n_head_kv, summary.head_dim) == (2, 256, 2, 64)
    main(["convert", str(checkpoint), "--out", str(tmp_path), "--json"])
    tensor_bytes = sum(
        int(t.n_bytes) for t in gguf.GGUFReader(tmp_path / "tiny-qwen3-F16.gguf").tensors
    )
    assert summary.estimated_f16_bytes == tensor_bytes
