"""``quantdesk list`` and library names in place of paths (``quantdesk fit NAME``), as Ollama
users type them; and a closed pipe ends a command quietly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from converter.paths import library_dir
from desktop.cli import main
from desktop.commands.model_argument import UnknownModel, find_model
from tests.support.gguf_factory import write_tiny_gguf

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("list") / "tiny-F16.gguf")


@pytest.fixture
def library(tiny_model: Path) -> Path:
    """The test's library (conftest isolates it) holding two models."""
    folder = library_dir()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_model, folder / "tiny-llama-F16.gguf")
    shutil.copy(tiny_model, folder / "Other-Model-F16.gguf")
    return folder


def test_list_shows_each_model_by_the_name_commands_take(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "--paths"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "LEVEL", "SIZE", "PARAMETERS", "MODIFIED", "PATH"]
    rows = {line.split()[0]: line for line in lines[1:3]}
    assert set(rows) == {"tiny-llama-F16", "Other-Model-F16"}
    size = (library / "tiny-llama-F16.gguf").stat().st_size
    for name, line in rows.items():
        assert line.split()[1] == "F16"
        assert f"{size / 2**20:.1f} MiB" in line
        assert line.endswith(f"{name}.gguf")
    assert lines[-1] == f"2 model files in {library}."


def test_list_json_holds_names_paths_and_levels(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "--json"]) == 0
    entries = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert set(entries) == {"tiny-llama-F16", "Other-Model-F16"}
    entry = entries["tiny-llama-F16"]
    assert Path(entry["path"]) == (library / "tiny-llama-F16.gguf").resolve()
    assert entry["level"] == "F16" and entry["parameter_count"] > 0 and not entry["error"]


def test_an_empty_library_says_how_to_fill_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No models in the library") and "quantdesk download" in out


def test_fit_takes_a_library_name(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "TINY"]) == 0  # the only name starting so, in any letter case
    assert capsys.readouterr().out.startswith("tiny-llama-F16.gguf: ")


def test_names_resolve_exactly_by_case_and_by_a_unique_start(tmp_path: Path) -> None:
    catalog = {
        "gemma-3-270m-Q4_K_M": tmp_path / "a.gguf",
        "gemma-3-270m-Q8_0": tmp_path / "b.gguf",
        "Qwen2.5-1.5B-F16": tmp_path / "c.gguf",
    }
    assert find_model("gemma-3-270m-Q8_0", catalog) == tmp_path / "b.gguf"
    assert find_model("GEMMA-3-270M-q4_k_m", catalog) == tmp_path / "a.gguf"
    assert find_model("qwen", catalog) == tmp_path / "c.gguf"
    with pytest.raises(UnknownModel) as ambiguous:
        find_model("gemma", catalog)
    assert str(ambiguous.value) == (
        "'gemma' could be 'gemma-3-270m-Q4_K_M' or 'gemma-3-270m-Q8_0': type more of the name."
    )
    with pytest.raises(UnknownModel) as unknown:
        find_model("gemma-3-270m-q4-k-m", catalog)
    assert "Did you mean 'gemma-3-270m-Q4_K_M' or 'gemma-3-270m-Q8_0'?" in str(unknown.value)
    assert "quantdesk list" in str(unknown.value)


def test_paths_stay_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What exists, or looks like a path, is not looked up: the loader names a missing file."""
    catalog = {"model": tmp_path / "library-model.gguf"}
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").write_bytes(b"")
    assert find_model("model", catalog) == Path("model")
    assert find_model("missing.gguf", catalog) == Path("missing.gguf")
    assert find_model(f"sub{os.sep}model", catalog) == Path("sub") / "model"
    with pytest.raises(UnknownModel, match="the library has no models yet"):
        find_model("anything", {})


def test_a_closed_pipe_ends_a_command_without_a_traceback() -> None:
    """``quantdesk levels | head -1``: the reader is gone before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "desktop.cli", "levels"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""


def test_rm_deletes_a_model_named_in_full(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rm", "tiny-llama-f16", "--yes"]) == 0
    assert capsys.readouterr().out.startswith("Deleted tiny-llama-F16 (")
    assert sorted(p.name for p in library.iterdir()) == ["Other-Model-F16.gguf"]


def test_rm_refuses_the_start_of_a_name_a_script_without_yes_and_outside_files(
    library: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rm", "tiny", "--yes"]) == 1
    assert "needs a model's whole name: did you mean 'tiny-llama-F16'?" in capsys.readouterr().err
    assert main(["rm", "tiny-llama-F16"]) == 1  # stdin is no terminal under pytest
    assert "add --yes" in capsys.readouterr().err
    assert main(["rm", str(tiny_model), "--yes"]) == 1
    assert "not in a library folder" in capsys.readouterr().err
    assert tiny_model.exists() and len(list(library.iterdir())) == 2


def test_a_split_model_is_listed_fitted_and_removed_by_one_name(
    tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = library_dir()
    folder.mkdir(parents=True, exist_ok=True)
    first = write_tiny_gguf(folder / "big-F16.gguf", split_max_tensors=8)
    assert main(["list", "--json"]) == 0
    ((entry,),) = [json.loads(capsys.readouterr().out)]
    assert entry["name"] == "big-F16" and Path(entry["path"]) == first.resolve()
    assert entry["size_bytes"] == sum(part.stat().st_size for part in folder.iterdir())
    weights = []
    for model in ("big-F16", str(tiny_model)):  # the same model (same seed) in one file
        assert main(["fit", model, "--json"]) == 0
        weights.append(json.loads(capsys.readouterr().out)["plan"]["estimate"]["breakdown"])
    assert weights[0]["weights_cpu"] == weights[1]["weights_cpu"] > 0
    assert main(["rm", "big-F16", "--yes"]) == 0
    assert list(folder.iterdir()) == []
