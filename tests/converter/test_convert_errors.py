"""Bad input is refused with a message a person understands, and nothing is left in DIR."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from converter.convert import convert_checkpoint, inspect_checkpoint
from converter.errors import Cancelled, CheckpointError, OutputError, UnsupportedArchitecture
from converter.progress import CancelToken, run_job
from tests.support.checkpoints import build_checkpoint


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint("llama", tmp_path_factory.mktemp("ck") / "tiny", num_hidden_layers=1)


@pytest.fixture
def checkpoint(pristine: Path, tmp_path: Path) -> Path:
    """A private copy each test may damage."""
    return Path(shutil.copytree(pristine, tmp_path / "tiny"))


def assert_nothing_written(out: Path) -> None:
    assert not out.exists() or list(out.iterdir()) == []


def test_truncated_safetensors_is_named_before_writing(checkpoint: Path, tmp_path: Path) -> None:
    weights = checkpoint / "model.safetensors"
    with weights.open("r+b") as stream:
        stream.truncate(weights.stat().st_size - 1000)
    out = tmp_path / "out"
    with pytest.raises(CheckpointError, match=r"model\.safetensors is truncated") as error:
        run_job(convert_checkpoint(checkpoint, out))
    assert "download it again" in str(error.value)
    assert_nothing_written(out)


def test_damaged_header_is_reported(checkpoint: Path, tmp_path: Path) -> None:
    weights = checkpoint / "model.safetensors"
    with weights.open("r+b") as stream:
        stream.seek(8)
        stream.write(b"#not json")
    with pytest.raises(CheckpointError, match=r"model\.safetensors has a damaged header"):
        run_job(convert_checkpoint(checkpoint, tmp_path / "out"))
    assert_nothing_written(tmp_path / "out")


def test_missing_config_json(checkpoint: Path, tmp_path: Path) -> None:
    (checkpoint / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"has no config\.json"):
        run_job(convert_checkpoint(checkpoint, tmp_path / "out"))
    with pytest.raises(CheckpointError, match=r"has no config\.json"):
        inspect_checkpoint(checkpoint)
    assert_nothing_written(tmp_path / "out")


def test_unsupported_architecture_is_named_with_the_supported_ones(
    checkpoint: Path, tmp_path: Path
) -> None:
    relabel(checkpoint, "FalconForCausalLM")
    with pytest.raises(UnsupportedArchitecture) as error:
        run_job(convert_checkpoint(checkpoint, tmp_path / "out"))
    message = str(error.value)
    assert "FalconForCausalLM is not supported" in message
    for supported in (
        "LlamaForCausalLM",
        "Qwen3ForCausalLM",
        "Phi3ForCausalLM",
        "Gemma2ForCausalLM",
    ):
        assert supported in message
    assert_nothing_written(tmp_path / "out")
    summary = inspect_checkpoint(checkpoint)
    assert not summary.supported
    assert summary.problem == message


def test_missing_shard_listed_in_the_index(tmp_path: Path) -> None:
    folder = build_checkpoint("qwen2", tmp_path / "sharded", num_hidden_layers=1, shards=3)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 2
    (folder / shards[-1]).unlink()
    with pytest.raises(CheckpointError, match=f"incomplete: {shards[-1]} listed"):
        run_job(convert_checkpoint(folder, tmp_path / "out"))
    assert_nothing_written(tmp_path / "out")


def relabel(folder: Path, hf_class: str) -> None:
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["architectures"] = [hf_class]
    config_path.write_text(json.dumps(config))


def test_missing_tensor_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    relabel(checkpoint, "Qwen3ForCausalLM")  # Llama weights lack Qwen 3's q/k norms
    with pytest.raises(
        CheckpointError, match=r"incomplete; it lacks model\.layers\.0\.self_attn\.q_norm"
    ):
        run_job(convert_checkpoint(checkpoint, tmp_path / "out"))
    assert_nothing_written(tmp_path / "out")


def test_unknown_tensor_is_refused(tmp_path: Path) -> None:
    folder = build_checkpoint("phi3", tmp_path / "phi", num_hidden_layers=1)
    relabel(folder, "LlamaForCausalLM")  # Phi-3's fused projections are not Llama tensors
    with pytest.raises(CheckpointError, match="a plain LlamaForCausalLM does not have") as error:
        run_job(convert_checkpoint(folder, tmp_path / "out"))
    assert "model.layers.0.mlp.gate_up_proj.weight" in str(error.value)
    assert_nothing_written(tmp_path / "out")


def test_output_folder_that_cannot_be_created(checkpoint: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="Cannot create the output folder"):
        run_job(convert_checkpoint(checkpoint, blocker / "out"))
    assert blocker.read_text() == "not a folder"


def test_cancel_midway_leaves_nothing(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cancel = CancelToken()
    events = []

    def cancel_after_three(event: object) -> None:
        events.append(event)
        if len(events) == 4:  # the opening event, then three tensors
            cancel.cancel()

    with pytest.raises(Cancelled, match="Converting tiny was cancelled"):
        run_job(convert_checkpoint(checkpoint, out, cancel=cancel), cancel_after_three)
    assert len(events) == 4
    assert_nothing_written(out)


def test_abandoned_job_leaves_nothing(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = convert_checkpoint(checkpoint, out)
    next(job)
    next(job)
    job.close()  # what a GUI does when the window closes mid-conversion
    assert_nothing_written(out)
