"""``quantdesk fit``: the memory prediction in words a person reads, its parts adding up."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.commands.fit_command import RAM_PARTS, VRAM_PARTS
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

#: The memory model's own keys and the planner's verdict codes: never shown as text.
INTERNAL_WORDS = re.compile(
    r"weights_cpu|kv_cpu|compute_cpu|cpu_work|weights_gpu|gpu_context|n_gpu_layers"
    r"|cpu_only|full_gpu|partial_gpu|wont_fit"
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("fit") / "tiny-F16.gguf")


def test_text_names_each_part_in_words(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(model), "--ctx", "2048"]) == 0
    text = capsys.readouterr().out
    assert not INTERNAL_WORDS.search(text), text
    for words in ("Weights", "KV cache", "Compute buffer", "Vocabulary", "Process"):
        assert re.search(rf"^    {words} +\d", text, re.MULTILINE), words
    assert re.search(r"Compute buffer .* of [\d.]+ \w+ reserved", text)
    assert "Verdict: " in text


def test_printed_parts_are_the_ones_each_total_counts(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tables of parts the text prints match what the memory model sums into RAM and VRAM,
    here with layers on the GPU so that both sides hold something."""
    assert main(["fit", str(model), "--ctx", "2048", "--gpu-layers", "1", "--json"]) == 0
    requested = json.loads(capsys.readouterr().out)["requested"]
    breakdown = requested["breakdown"]
    assert requested["ram_bytes"] == sum(breakdown[key] for key, _ in RAM_PARTS)
    assert requested["vram_bytes"] == sum(breakdown[key] for key, _ in VRAM_PARTS)
    assert requested["vram_bytes"] > 0


def test_ladder_shows_verdicts_in_words(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(model), "--ladder", "--ctx", "2048"]) == 0
    text = capsys.readouterr().out
    assert not INTERNAL_WORDS.search(text), text
    assert re.search(r"^  Q4_K_M .*(CPU only|Full GPU|Partial GPU)", text, re.MULTILINE)


def test_ctx_zero_is_the_models_own_context_and_negative_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As chat and serve take it: 0 is the trained context (it was predicted as 256 tokens)."""
    model = write_tiny_gguf(tmp_path / "tiny-F16.gguf", TinyModelShape(n_ctx_train=2048))
    assert main(["fit", str(model), "--ctx", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ctx_per_slot"] == 2048
    assert main(["fit", str(model), "--ctx", "-5"]) == 1
    assert "--ctx must be 0 (the model's own context) or more, not -5." in capsys.readouterr().err
