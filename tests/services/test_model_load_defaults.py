"""Load settings remembered per model file: kept per path, forgotten on request, and a damaged
file or a bad value means "nothing remembered", never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.services.model_load_defaults import ModelDefaultsStore, ModelLoadDefaults


def test_each_model_file_keeps_its_own_settings(tmp_path: Path) -> None:
    store = ModelDefaultsStore(tmp_path / "defaults.json")
    big = ModelLoadDefaults(ctx_tokens=8192, kv_type="q8_0", gpu_layers=-1, threads=2)
    small = ModelLoadDefaults(ctx_tokens=0, gpu_layers=12)
    store.remember(tmp_path / "big-Q4_K_M.gguf", big)
    store.remember(str(tmp_path / "small-Q8_0.gguf"), small)
    again = ModelDefaultsStore(tmp_path / "defaults.json")  # as after a restart
    assert again.get(tmp_path / "big-Q4_K_M.gguf") == big
    assert again.get(str(tmp_path / "small-Q8_0.gguf")) == small
    assert again.get(tmp_path / "other.gguf") is None
    again.forget(tmp_path / "big-Q4_K_M.gguf")
    assert ModelDefaultsStore(tmp_path / "defaults.json").get(tmp_path / "big-Q4_K_M.gguf") is None
    assert [p.name for p in tmp_path.iterdir()] == ["defaults.json"]  # no temporary file left


def test_a_damaged_file_or_a_bad_value_remembers_nothing(tmp_path: Path) -> None:
    path = tmp_path / "defaults.json"
    store = ModelDefaultsStore(path)
    path.write_text("{not json", encoding="utf-8")
    assert store.get(tmp_path / "m.gguf") is None
    key = str((tmp_path / "m.gguf").resolve())
    path.write_text(json.dumps({"models": {key: {"ctx_tokens": -5}}}), encoding="utf-8")
    assert store.get(tmp_path / "m.gguf") is None
    path.write_text(json.dumps({"models": {key: {"volume": 11}}}), encoding="utf-8")
    assert store.get(tmp_path / "m.gguf") is None
    store.remember(tmp_path / "m.gguf", ModelLoadDefaults(ctx_tokens=2048))  # rewritten whole
    assert store.get(tmp_path / "m.gguf") == ModelLoadDefaults(ctx_tokens=2048)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"ctx_tokens": -1}, "context"),
        ({"kv_type": "q3_x"}, "KV cache type"),
        ({"gpu_layers": -2}, "GPU layers"),
        ({"threads": -1}, "Threads"),
        ({"kv_type": "q8_0", "flash_attention": False}, "q8_0 KV cache needs flash attention"),
    ],
)
def test_bad_settings_are_refused_in_one_sentence(fields: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ModelLoadDefaults(**fields)  # type: ignore[arg-type]


def test_the_settings_read_as_words() -> None:
    text = ModelLoadDefaults(ctx_tokens=8192, kv_type="q8_0", gpu_layers=-1, threads=4).describe()
    assert text == "context 8192, KV cache q8_0, all layers on the GPU, 4 threads"
    assert "trained context" in ModelLoadDefaults(ctx_tokens=0, gpu_layers=0).describe()


def test_flash_attention_is_on_unless_switched_off_and_older_files_get_the_default(
    tmp_path: Path,
) -> None:
    assert ModelLoadDefaults().flash_attention
    off = ModelLoadDefaults(flash_attention=False)
    assert off.describe().endswith(", flash attention off")
    path = tmp_path / "defaults.json"
    store = ModelDefaultsStore(path)
    store.remember(tmp_path / "m.gguf", off)
    assert store.get(tmp_path / "m.gguf") == off
    key = str((tmp_path / "m.gguf").resolve())  # as written before the switch existed
    path.write_text(json.dumps({"models": {key: {"ctx_tokens": 2048}}}), encoding="utf-8")
    assert store.get(tmp_path / "m.gguf") == ModelLoadDefaults(ctx_tokens=2048)


def test_how_the_weights_load_is_remembered_and_a_bad_value_is_not(tmp_path: Path) -> None:
    store = ModelDefaultsStore(tmp_path / "defaults.json")
    read_in = ModelLoadDefaults(read_weights_in=True)
    assert read_in.describe().endswith(", file read into memory")
    assert ", file" not in ModelLoadDefaults().describe()
    store.remember(tmp_path / "m.gguf", read_in)
    assert store.get(tmp_path / "m.gguf") == read_in
    with pytest.raises(ValueError, match="weights"):
        ModelLoadDefaults(read_weights_in=1)  # type: ignore[arg-type]
