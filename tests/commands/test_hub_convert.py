"""From a repo id to a GGUF: the hub download feeds the real converter, and the CLI commands."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from converter.convert import convert_checkpoint
from converter.hub.fetch import COMPLETE_MARKER, hub_cache_dir, resolve_source, source_name
from converter.progress import Progress, run_job
from desktop.cli import main
from tests.support.checkpoints import build_checkpoint
from tests.support.hub_server import FakeHub, FakeRepo, serve


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = build_checkpoint("llama", tmp_path_factory.mktemp("ckpt") / "tiny-llama")
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    files["pytorch_model.bin"] = b"not needed"  # another format: must not be downloaded
    return files


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, checkpoint: dict[str, bytes]) -> Iterator[FakeHub]:
    config = json.loads(checkpoint["config.json"])
    repo = FakeRepo("org/tiny-llama", checkpoint, config=config, downloads=3)
    hub = serve(monkeypatch, repo)
    yield hub
    hub.stop()


def test_repo_id_is_downloaded_then_converted(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[Progress] = []
    source = resolve_source("org/tiny-llama", on_progress=events.append)
    assert source == hub_cache_dir("org/tiny-llama")
    assert not (source / "pytorch_model.bin").exists()
    assert (source / COMPLETE_MARKER).is_file()
    total = sum(len(v) for k, v in hub.repos["org/tiny-llama"].files.items() if k != "README.md")
    assert events[-1].done == events[-1].total <= total
    written = run_job(convert_checkpoint(source, tmp_path / "out"))
    assert written.architecture == "llama" and written.path.is_file()

    # Later, offline: the complete download is reused instead of failing.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert resolve_source("org/tiny-llama") == source


def test_cached_checkpoint_file_replaced_on_the_hub_is_downloaded_again(
    hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    source = resolve_source("org/tiny-llama")
    files = hub.repos["org/tiny-llama"].files
    weights = bytearray(files["model.safetensors"])
    weights[-4:] = bytes(4)  # a new upload of the same size
    files["model.safetensors"] = bytes(weights)
    events: list[Progress] = []

    assert resolve_source("org/tiny-llama", on_progress=events.append) == source

    assert (source / "model.safetensors").read_bytes() == bytes(weights)
    assert any("differs from the hub's version" in e.message for e in events)
    assert len(hub.ranges_for("model.safetensors")) == 2
    assert len(hub.ranges_for("config.json")) == 1  # unchanged files are not fetched again


def test_local_folder_is_its_own_source(tmp_path: Path) -> None:
    assert resolve_source(str(tmp_path)) == tmp_path


def test_cli_search_and_download(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "tiny", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["repo_id"] == "org/tiny-llama" and hits[0]["model_type"] == "llama"
    assert main(["search", "tiny"]) == 0
    assert "org/tiny-llama" in capsys.readouterr().out
    assert main(["download", "org/tiny-llama", "--out", str(tmp_path / "ckpt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert Path(result["path"]) == tmp_path / "ckpt"
    assert (tmp_path / "ckpt" / "config.json").is_file()


def test_cli_converts_straight_from_a_repo_id(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["convert", "org/tiny-llama", "--out", str(out), "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    # Named after the model (not its cache folder); a float32 checkpoint becomes F16.
    assert [Path(f["path"]).name for f in files] == ["tiny-llama-F16.gguf"]
    assert files[0]["architecture"] == "llama"
    assert sorted(p.name for p in out.iterdir()) == [Path(files[0]["path"]).name]


def test_source_name_is_the_model_part_of_a_repo_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert source_name("org/tiny-llama") == "tiny-llama"
    assert source_name(" Qwen/Qwen2.5-0.5B-Instruct ") == "Qwen2.5-0.5B-Instruct"
    assert source_name("not a name") is None and source_name("a/b/c") is None
    folder = tmp_path / "org" / "tiny-llama"
    folder.mkdir(parents=True)
    assert source_name(str(folder)) is None
    monkeypatch.chdir(tmp_path)  # a folder of the same shape is converted as a folder
    assert source_name("org/tiny-llama") is None
