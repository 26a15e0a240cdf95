"""Gemma 3 4B-27B as published (``Gemma3ForConditionalGeneration``): the text model converts.

The tiny multimodal checkpoints are made by transformers itself (a 2-layer text model, a
1-layer 32-wide vision tower on 32×32 images) and saved under the tensor names of each
transformers generation; their configs take the shape of the hub's real ones. The converted
GGUF must compute transformers' text-only logits in llama.cpp, with Gemma 3's linear rope
scaling on the global layers.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
import transformers
from safetensors.numpy import load_file, save_file

from converter.convert import convert_checkpoint, inspect_checkpoint
from converter.errors import CheckpointError, UnsupportedArchitecture
from converter.progress import Progress, run_job
from tests.converter.test_convert_logits import (
    F16_TOLERANCE,
    TOKENS,
    assert_same_best_tokens,
    relative_errors,
)
from tests.support.checkpoints import (
    _randomize,
    copy_tokenizer,
    llama_cpp_logits,
    sample_token_ids,
    tiny_config,
    transformers_logits,
)

LINEAR_ROPE = {"rope_type": "linear", "factor": 8.0}
TINY_VISION = {
    "model_type": "siglip_vision_model",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 8,
}
#: Stored-name prefixes of transformers 4.52-4.57, from the names transformers 5 saves.
NAMES_4_52 = (
    ("language_model.model.", "model.language_model."),
    ("language_model.lm_head.", "lm_head."),
    ("vision_tower.", "model.vision_tower.vision_model."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
)
#: transformers 4.50's names: the language model as transformers 5 saves it, the vision tower
#: still wrapped in ``vision_model``.
NAMES_4_50 = (("vision_tower.", "vision_tower.vision_model."),)


def build_multimodal(folder: Path, *, tied: bool = True, seed: int = 0, **text: Any) -> Path:
    """A tiny random Gemma3ForConditionalGeneration saved by transformers, with a tokenizer."""
    text_config = tiny_config("gemma3", tied=tied, **text).to_dict()
    config = transformers.Gemma3Config(
        text_config=text_config,
        vision_config=TINY_VISION,
        mm_tokens_per_image=4,
        tie_word_embeddings=tied,
    )
    config._attn_implementation = "eager"
    model = transformers.Gemma3ForConditionalGeneration(config)
    _randomize(model, seed)
    model.save_pretrained(folder)
    copy_tokenizer("llama-spm", folder)
    return folder


def rename_tensors(folder: Path, renames: tuple[tuple[str, str], ...]) -> None:
    """Rewrite model.safetensors with the stored names another transformers version uses."""
    path = folder / "model.safetensors"
    tensors = load_file(path)

    def renamed(name: str) -> str:
        for old, new in renames:
            if name.startswith(old):
                return new + name[len(old) :]
        return name

    save_file({renamed(n): t for n, t in tensors.items()}, path, metadata={"format": "pt"})


def hub_style_config(folder: Path, **legacy: Any) -> None:
    """Write config.json as the hub's Gemma 3 4B one is written: ``text_config`` names only the
    keys that differ from Gemma3TextConfig's defaults, rope keys in the pre-5 layout."""
    config = json.loads((folder / "config.json").read_text())
    text = config["text_config"]
    defaults = transformers.Gemma3TextConfig().to_dict()
    kept = {
        key: value
        for key, value in text.items()
        if key not in ("rope_parameters", "layer_types", "_sliding_window_pattern")
        and defaults.get(key) != value
    }
    config["text_config"] = {**kept, "model_type": "gemma3_text", **legacy}
    for key in ("tie_word_embeddings", "dtype"):
        config.pop(key, None)
    config["torch_dtype"] = "float32"
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def f16_gguf(folder: Path, out: Path) -> Path:
    return run_job(convert_checkpoint(folder, out)).path


def assert_logits_match(reference: np.ndarray, gguf_path: Path, ids: list[int]) -> None:
    got = llama_cpp_logits(gguf_path, ids)
    assert got.shape == reference.shape
    assert relative_errors(reference, got).max() <= F16_TOLERANCE
    assert_same_best_tokens(reference, got, F16_TOLERANCE)


def text_tensor_names(gguf_path: Path) -> set[str]:
    names = {t.name for t in gguf.GGUFReader(gguf_path).tensors}
    assert all(re.match(r"(token_embd|output_norm|output|blk\.[01])\.", n) for n in names), names
    return names


@pytest.fixture(scope="module")
def ids() -> list[int]:
    return sample_token_ids(TOKENS, 32000)


def test_transformers_5_checkpoint_with_linear_rope_scaling(tmp_path: Path, ids: list[int]) -> None:
    folder = build_multimodal(tmp_path / "gemma-mm", rope_scaling=LINEAR_ROPE)
    assert any(
        n.startswith("language_model.model.") for n in load_file(folder / "model.safetensors")
    )
    reference = transformers_logits(folder, ids)
    path = f16_gguf(folder, tmp_path / "out")

    assert_logits_match(reference, path, ids)
    reader = gguf.GGUFReader(path)
    assert reader.fields["general.architecture"].contents() == "gemma3"
    assert reader.fields["gemma3.rope.scaling.factor"].contents() == pytest.approx(8.0)
    assert reader.fields["gemma3.rope.freq_base_swa"].contents() == pytest.approx(10_000.0)
    assert "output.weight" not in text_tensor_names(path)  # tied: llama.cpp reuses token_embd

    # The scaling matters within these tokens: without it transformers computes other logits,
    # so a GGUF that dropped the factor would fail above.
    unscaled = transformers_logits(build_multimodal(tmp_path / "unscaled"), ids)
    assert relative_errors(reference, unscaled).max() > 10 * F16_TOLERANCE


def test_untied_checkpoint_with_transformers_4_52_names(tmp_path: Path, ids: list[int]) -> None:
    folder = build_multimodal(tmp_path / "gemma-mm", tied=False, seed=3)
    reference = transformers_logits(folder, ids)
    rename_tensors(folder, NAMES_4_52)
    stored = load_file(folder / "model.safetensors")
    assert "lm_head.weight" in stored and "model.language_model.norm.weight" in stored

    path = f16_gguf(folder, tmp_path / "out")
    assert_logits_match(reference, path, ids)
    assert "output.weight" in text_tensor_names(path)


def test_hub_shaped_config_with_omitted_defaults(tmp_path: Path, ids: list[int]) -> None:
    """Like gemma-3-4b-it: defaults left out (query scale 256 ≠ head size 64, rope bases,
    window pattern), ``rope_scaling`` at the text config's top level, transformers 4.50 names."""
    folder = build_multimodal(tmp_path / "gemma-mm", seed=5)
    hub_style_config(folder, rope_scaling=LINEAR_ROPE, sliding_window_pattern=2)
    rename_tensors(folder, NAMES_4_50)
    text = json.loads((folder / "config.json").read_text())["text_config"]
    assert not {"query_pre_attn_scalar", "rope_theta", "rope_local_base_freq"} & set(text)
    reference = transformers_logits(folder, ids)

    assert_logits_match(reference, f16_gguf(folder, tmp_path / "out"), ids)


def test_the_notes_say_the_image_part_is_not_converted(tmp_path: Path) -> None:
    folder = build_multimodal(tmp_path / "gemma-mm")
    summary = inspect_checkpoint(folder)
    assert summary.supported and summary.architecture == "gemma3"
    assert len(summary.notes) == 1 and "mmproj" in summary.notes[0]
    # The parameter count is the text model's: the image encoder is not in the GGUF.
    stored = load_file(folder / "model.safetensors")
    text = sum(v.size for k, v in stored.items() if k.startswith("language_model."))
    assert summary.parameter_count == text < sum(v.size for v in stored.values())
    events: list[Progress] = []
    run_job(convert_checkpoint(folder, tmp_path / "out"), events.append)
    assert summary.notes[0] in events[0].message
    # The wizard's check step tells the person too (its architecture row).
    from desktop.services.checkpoint_checks import inspect_source

    inspection = inspect_source(folder, tmp_path / "wizard-out", tmp_path / "preview")
    assert inspection.ok and inspection.notes == summary.notes
    architecture_row = next(r for r in inspection.rows if r.name == "Architecture supported")
    assert summary.notes[0] in architecture_row.detail

    text_only = tmp_path / "text-only"
    text_only.mkdir()
    config = tiny_config("gemma3")
    config.architectures = ["Gemma3ForCausalLM"]
    config.save_pretrained(text_only)
    assert inspect_checkpoint(text_only).notes == ()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_multimodal(tmp_path_factory.mktemp("mm") / "gemma-mm")


@pytest.fixture
def checkpoint(pristine: Path, tmp_path: Path) -> Path:
    """A private copy each test may change."""
    return Path(shutil.copytree(pristine, tmp_path / "gemma-mm"))


def edit_config(folder: Path, **changes: Any) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_an_unsupported_multimodal_class_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    edit_config(checkpoint, architectures=["PaliGemmaForConditionalGeneration"])
    out = tmp_path / "out"
    with pytest.raises(UnsupportedArchitecture) as error:
        run_job(convert_checkpoint(checkpoint, out))
    message = str(error.value)
    assert "PaliGemmaForConditionalGeneration is not supported" in message
    assert "Gemma3ForConditionalGeneration" in message  # the supported list names it
    assert not out.exists()
    assert not inspect_checkpoint(checkpoint).supported


def test_scaled_rope_on_the_sliding_layers_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    config["text_config"]["rope_parameters"]["sliding_attention"].update(LINEAR_ROPE)
    (checkpoint / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    with pytest.raises(UnsupportedArchitecture, match="sliding-window layers"):
        run_job(convert_checkpoint(checkpoint, out))
    assert not out.exists() or list(out.iterdir()) == []


def test_a_folder_mixing_two_namings_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    norm = load_file(checkpoint / "model.safetensors")["language_model.model.norm.weight"]
    save_file({"model.language_model.norm.weight": norm}, checkpoint / "extra.safetensors")
    with pytest.raises(CheckpointError, match="two names for the same tensor"):
        run_job(convert_checkpoint(checkpoint, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_other_tensors_are_still_unknown(checkpoint: Path, tmp_path: Path) -> None:
    """Only the vision tower and projector are left out on purpose; anything else is refused."""
    save_file(
        {"audio_tower.proj.weight": np.zeros((2, 2), np.float32)}, checkpoint / "x.safetensors"
    )
    with pytest.raises(CheckpointError, match=r"audio_tower\.proj\.weight"):
        run_job(convert_checkpoint(checkpoint, tmp_path / "out"))
