"""First-run recommendations and GGUF file-name parsing: pure logic, no server."""

from __future__ import annotations

import pytest

from converter.hub.recommend import Recommendation, load_recommendations, recommend_for
from converter.hub.repo_kind import RepoKind, checkpoint_files, classify, level_from_filename

GIB = 1024**3


def _model(name: str, gib: float) -> Recommendation:
    return Recommendation(name, f"org/{name}", f"{name}.gguf", "Q4_K_M", int(gib * GIB), "mit", "")


MODELS = (_model("half", 0.5), _model("one", 1.0), _model("two", 2.0), _model("five", 5.0))


@pytest.mark.parametrize(
    ("ram_gib", "vram_gib", "expected"),
    [
        (2, 0, ("half",)),  # 1 GiB budget: only the smallest, and nothing larger fits
        (4, 0, ("half", "one")),
        (8, 0, ("one", "two")),
        (16, 0, ("two", "five")),
        (8, 12, ("two", "five")),  # the GPU (10.8 GiB usable) beats half the RAM
        (8, 16, ("five",)),  # the largest runs comfortably; nothing larger exists
        (1, 0, ("half",)),  # too small for any: the smallest, alone
    ],
)
def test_recommendations_are_sized_to_the_machine(
    ram_gib: int, vram_gib: int, expected: tuple[str, ...]
) -> None:
    picked = recommend_for(ram_gib * GIB, vram_gib * GIB, MODELS)
    assert tuple(m.title for m in picked) == expected


def test_shipped_list_is_valid_and_ordered() -> None:
    shipped = load_recommendations()
    assert len(shipped) >= 4
    assert [m.size_bytes for m in shipped] == sorted(m.size_bytes for m in shipped)
    for model in shipped:
        assert model.filename.endswith(".gguf")
        assert level_from_filename(model.filename) == model.level
    small_laptop = recommend_for(8 * GIB, 0)
    assert small_laptop[0].size_bytes < small_laptop[-1].size_bytes or len(small_laptop) == 1


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("qwen2.5-0.5b-instruct-q8_0.gguf", "Q8_0"),
        ("Llama-3.2-1B-Instruct-Q6_K_L.gguf", "Q6_K_L"),
        ("model-IQ4_XS.gguf", "IQ4_XS"),
        ("Q4_K_M/big-Q4_K_M-00001-of-00003.gguf", "Q4_K_M"),
        ("gemma-2-2b-it-f16.gguf", "F16"),
        ("ggml-model.gguf", None),
    ],
)
def test_level_is_read_from_file_names(name: str, level: str | None) -> None:
    assert level_from_filename(name) == level


def test_checkpoint_selection_skips_other_formats() -> None:
    names = [
        "config.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "pytorch_model.bin",
        "consolidated.pth",
        "onnx/model.onnx",
        "original/model.safetensors",
        "model-f16.gguf.json",
        "README.md",
    ]
    assert classify(names) is RepoKind.CHECKPOINT
    assert checkpoint_files(names) == (
        "config.json",
        "generation_config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "tokenizer_config.json",
    )
