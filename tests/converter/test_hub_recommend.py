"""First-run recommendations and GGUF file-name parsing: pure logic, no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from converter.errors import QuantdeskError
from converter.hub.recommend import (
    MachineCapacity,
    Recommendation,
    SpeedRules,
    SuggestionRules,
    expected_speed,
    load_recommendations,
    load_rules,
    load_speed_rules,
    recommend_for,
    suggest_for,
)
from converter.hub.repo_kind import RepoKind, checkpoint_files, classify, level_from_filename

GIB = 1024**3


def _model(name: str, gib: float) -> Recommendation:
    return Recommendation(name, f"org/{name}", f"{name}.gguf", "Q4_K_M", int(gib * GIB), "mit", "")


MODELS = (_model("half", 0.5), _model("one", 1.0), _model("two", 2.0), _model("five", 5.0))
#: Memory needs: half 1.1 GiB, one 1.7, two 2.9, five 6.5. The CPU cap lets "two" be first.
RULES = SuggestionRules(
    ram_share=0.5, vram_share=0.9, comfort_share=0.6, cpu_first_max_file_bytes=int(2.5 * GIB)
)


@pytest.mark.parametrize(
    ("ram_gib", "vram_gib", "expected"),
    [
        (2, 0, ("half",)),  # 1 GiB budget: only the smallest, and nothing larger fits
        (4, 0, ("half", "one")),
        (8, 0, ("one", "two")),
        (16, 0, ("two", "five")),
        (32, 0, ("two", "five")),  # "five" runs comfortably, but on the CPU it comes second
        (8, 12, ("two", "five")),  # comfortable in 10.8 GiB of usable VRAM: "two", not "five"
        (8, 16, ("five",)),  # the largest runs comfortably on the GPU; nothing larger exists
        (32, 4, ("one", "five")),  # fits the small GPU fully; "five" still fits in RAM
        (1, 0, ("half",)),  # too small for any: the smallest, alone
    ],
)
def test_recommendations_are_sized_to_the_machine(
    ram_gib: int, vram_gib: int, expected: tuple[str, ...]
) -> None:
    picked = recommend_for(ram_gib * GIB, vram_gib * GIB, MODELS, RULES)
    assert tuple(m.title for m in picked) == expected


def test_cpu_cap_applies_only_without_a_gpu_that_holds_the_model() -> None:
    tight = SuggestionRules(0.5, 0.9, 0.6, cpu_first_max_file_bytes=int(0.9 * GIB))
    assert recommend_for(32 * GIB, 0, MODELS, tight)[0].title == "half"
    assert recommend_for(32 * GIB, 16 * GIB, MODELS, tight)[0].title == "five"


def test_shipped_list_is_valid_and_ordered() -> None:
    shipped = load_recommendations()
    rules = load_rules()
    assert len(shipped) >= 4
    assert [m.size_bytes for m in shipped] == sorted(m.size_bytes for m in shipped)
    for model in shipped:
        assert model.filename.endswith(".gguf")
        assert level_from_filename(model.filename) == model.level
    small_laptop = recommend_for(8 * GIB, 0)
    assert small_laptop[0].size_bytes < small_laptop[-1].size_bytes or len(small_laptop) == 1
    # A 24 GiB machine without a GPU: chat with a small model first, the large one second.
    first, second = recommend_for(24 * GIB, 0)
    assert first.size_bytes <= rules.cpu_first_max_file_bytes
    assert second.size_bytes == shipped[-1].size_bytes
    # A GPU with 8 GiB: the first suggestion fits in its memory with room for the context.
    first_on_gpu = recommend_for(16 * GIB, 8 * GIB)[0]
    assert first_on_gpu.memory_needed <= 8 * GIB * rules.vram_share * rules.comfort_share


def test_damaged_rules_are_a_clear_error(tmp_path: Path) -> None:
    damaged = tmp_path / "recommended_models.json"
    damaged.write_text(json.dumps({"models": [], "rules": {"ram_share": 0.5}}))
    with pytest.raises(QuantdeskError, match="missing or damaged"):
        load_rules(damaged)
    damaged.write_text(json.dumps({"models": [{"title": "no other fields"}]}))
    with pytest.raises(QuantdeskError, match="missing or damaged"):
        load_recommendations(damaged)


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


def _capacity(cores: int, ram_gib: float, vram_gib: float = 0, bandwidth_gbs: float = 15):
    return MachineCapacity(
        ram_bytes=int(ram_gib * GIB),
        vram_bytes=int(vram_gib * GIB),
        cpu_cores=cores,
        memory_bandwidth_bytes_per_second=bandwidth_gbs * 1e9,
    )


def test_a_two_core_machine_without_gpu_gets_models_of_about_1b_with_their_speed() -> None:
    """Even with plenty of RAM: 3B and 8B models fit, but would answer at 1-2 tokens/s."""
    for ram_gib in (8, 24, 64):
        suggestions = suggest_for(_capacity(2, ram_gib))
        assert suggestions
        for suggestion in suggestions:
            assert suggestion.model.parameter_count <= 1.3e9
            assert not suggestion.on_gpu
            assert suggestion.tokens_per_second >= load_speed_rules().min_tokens_per_second
        first = suggestions[0]
        assert first.tokens_per_second >= 2 * load_speed_rules().min_tokens_per_second


def test_more_cores_bandwidth_and_a_gpu_raise_the_suggestions() -> None:
    def largest(capacity: MachineCapacity) -> int:
        return max(s.model.parameter_count for s in suggest_for(capacity))

    two, eight, sixteen = (largest(_capacity(c, 64, 0, 60)) for c in (2, 8, 16))
    assert two < eight < sixteen
    assert largest(_capacity(16, 64, 0, 5)) < sixteen  # slow memory holds a big CPU back
    on_gpu = suggest_for(_capacity(2, 16, 12))
    assert on_gpu[0].on_gpu and on_gpu[0].model.parameter_count > 7e9  # cores no longer matter


def test_speed_is_the_slower_of_compute_and_bandwidth() -> None:
    model = _model("one", 1.0)
    rules, speed = load_rules(), SpeedRules(4e9, 0.5, 2.5e11, 5)
    compute_bound = expected_speed(model, _capacity(2, 16, 0, 1000), rules, speed)
    assert compute_bound.tokens_per_second == pytest.approx(2 * 4e9 / model.parameter_count)
    bandwidth_bound = expected_speed(model, _capacity(64, 16, 0, 10), rules, speed)
    assert bandwidth_bound.tokens_per_second == pytest.approx(0.5 * 10e9 / GIB)


def test_when_nothing_is_fast_enough_the_fastest_is_offered_alone() -> None:
    (only,) = suggest_for(_capacity(1, 64, 0, 1), MODELS, RULES, SpeedRules(1e9, 0.5, 1, 50))
    assert only.model.title == "half"
