"""``quantdesk compare`` end to end: table, JSON, cache flag and clear errors for bad input."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from converter.paths import library_dir
from desktop.cli import main
from tests.support.measure_helpers import SHORT_TEXT, TinyLevels, build_levels

FAST = ["--ctx", "64", "--chunks", "2", "--repeats", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def levels(tmp_path_factory: pytest.TempPathFactory) -> TinyLevels:
    return build_levels(tmp_path_factory.mktemp("levels"))


def test_json_output_has_one_row_per_file(
    levels: TinyLevels, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["compare", str(levels.f16), str(levels.q2_k), *FAST, "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["level"] for r in rows] == ["F16", "Q2_K"]
    assert rows[0]["reference"] and rows[0]["quality"]["mean_kl"] == 0
    assert rows[1]["quality"]["mean_kl"] > 0 and rows[1]["speed"]["gen_tokens_per_s"] > 0
    assert rows[1]["size_bytes"] == levels.q2_k.stat().st_size


def test_table_and_cache_flag(
    levels: TinyLevels, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "text.txt"
    text.write_text(SHORT_TEXT, encoding="utf-8")
    args = ["compare", str(levels.f16), str(levels.q8_0), *FAST, "--text", str(text)]
    assert main(args) == 0
    table = capsys.readouterr().out
    header, reference, q8_0 = table.splitlines()[:3]
    assert header.split() == [
        "level",
        "size",
        "bpw",
        "fit",
        "pp",
        "t/s",
        "tg",
        "t/s",
        "PPL",
        "KL",
        "same-top",
    ]
    assert reference.split()[0] == "F16*" and q8_0.split()[0] == "Q8_0"
    # the fit in the app's words, not the planner's codes
    assert any(words in q8_0 for words in ("CPU only", "Full GPU", "Partial GPU"))
    assert "_gpu" not in table and "cpu_only" not in table
    assert "text.txt" in table
    assert main([*args, "--json"]) == 0
    assert all(r["cached"] for r in json.loads(capsys.readouterr().out))
    assert main([*args, "--json", "--no-cache"]) == 0
    assert not any(r["cached"] for r in json.loads(capsys.readouterr().out))


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: d / "missing.gguf", "does not exist"),
        (lambda d: _write(d / "notes.gguf", b"not a model at all"), "not a readable GGUF"),
    ],
    ids=["missing", "not-gguf"],
)
def test_bad_model_file_is_explained(
    levels: TinyLevels,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_input: Callable[[Path], Path],
    message: str,
) -> None:
    bad = make_input(tmp_path)
    assert main(["compare", str(levels.f16), str(bad), *FAST]) == 1
    assert message in capsys.readouterr().err


def test_text_too_short_is_explained(
    levels: TinyLevels, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _write(tmp_path / "short.txt", b"Too short.")
    assert main(["compare", str(levels.f16), *FAST, "--text", str(text)]) == 1
    assert "needs at least 128" in capsys.readouterr().err


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_library_models_by_name(levels: TinyLevels, capsys: pytest.CaptureFixture[str]) -> None:
    library = library_dir()
    library.mkdir(parents=True, exist_ok=True)
    for path in (levels.f16, levels.q8_0):
        shutil.copy(path, library / path.name)
    names = [levels.f16.stem.upper(), levels.q8_0.stem]  # letter case does not matter
    assert main(["compare", *names, *FAST, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [Path(r["path"]).parent for r in rows] == [library] * 2
