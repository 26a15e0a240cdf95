"""Mistral Small 3.x (``Mistral3ForConditionalGeneration``) and LLaVA: the text model converts.

The tiny checkpoints are made by transformers itself (a 2-layer Mistral text model, a 1-layer
32-wide Pixtral vision tower on 32×32 images) and saved under the tensor names of each
transformers generation; their configs take the shape of the hub's real ones. The converted
``llama`` GGUF must compute transformers' text-only logits in llama.cpp.
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

from converter.architectures.hparams import read_hparams
from converter.architectures.text_config import LLAMA_TEXT_DEFAULTS, MISTRAL_TEXT_DEFAULTS
from converter.convert import convert_checkpoint, inspect_checkpoint
from converter.errors import UnsupportedArchitecture
from converter.hub.repo_kind import is_supported, model_type_of
from converter.progress import run_job
from tests.converter.test_convert_logits import (
    F16_TOLERANCE,
    assert_same_best_tokens,
    relative_errors,
)
from tests.support.checkpoints import _randomize, copy_tokenizer, llama_cpp_logits, tiny_config

TOKEN_COUNT = 24
TINY_PIXTRAL = {
    "model_type": "pixtral",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "head_dim": 16,
    "image_size": 32,
    "patch_size": 8,
}
#: Stored-name prefixes of transformers 4.52-4.57, from the names transformers 5 saves.
NAMES_4_52 = (
    ("language_model.model.", "model.language_model."),
    ("language_model.lm_head.", "lm_head."),
    ("vision_tower.", "model.vision_tower."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
)


def build(folder: Path, model_class: str = "Mistral3", *, seed: int = 0, **text: Any) -> Path:
    """A tiny random ``<model_class>ForConditionalGeneration`` saved by transformers."""
    text_config = tiny_config("mistral", **text).to_dict()
    config = getattr(transformers, f"{model_class}Config")(
        text_config=text_config, vision_config=TINY_PIXTRAL, tie_word_embeddings=False
    )
    model = getattr(transformers, f"{model_class}ForConditionalGeneration")(config)
    _randomize(model, seed)
    model.save_pretrained(folder)
    copy_tokenizer("llama-spm", folder)
    return folder


def reference_logits(folder: Path, ids: list[int]) -> np.ndarray:
    """transformers' next-token logits for a text-only input, in float32."""
    import torch

    model = transformers.AutoModelForImageTextToText.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].float().numpy()


def rename_tensors(folder: Path, renames: tuple[tuple[str, str], ...]) -> None:
    path = folder / "model.safetensors"

    def renamed(name: str) -> str:
        old, new = next(((o, n) for o, n in renames if name.startswith(o)), ("", ""))
        return new + name[len(old) :]

    tensors = {renamed(name): t for name, t in load_file(path).items()}
    save_file(tensors, path, metadata={"format": "pt"})


def edit_config(folder: Path, **changes: Any) -> dict[str, Any]:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    return config


def convert_and_compare(folder: Path, out: Path, ids: list[int]) -> gguf.GGUFReader:
    reference = reference_logits(folder, ids)
    path = run_job(convert_checkpoint(folder, out)).path
    got = llama_cpp_logits(path, ids)
    assert got.shape == reference.shape
    assert relative_errors(reference, got).max() <= F16_TOLERANCE
    assert_same_best_tokens(reference, got, F16_TOLERANCE)
    reader = gguf.GGUFReader(path)
    assert reader.fields["general.architecture"].contents() == "llama"
    names = {t.name for t in reader.tensors}
    assert all(re.match(r"(token_embd|output_norm|output|blk\.[01])\.", n) for n in names), names
    assert "output.weight" in names  # Mistral Small keeps its own output matrix
    return reader


@pytest.fixture(scope="module")
def ids() -> list[int]:
    rng = np.random.default_rng(1)
    return [int(i) for i in rng.integers(300, 32000, size=TOKEN_COUNT)]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("mistral3") / "mistral3")


@pytest.fixture
def checkpoint(pristine: Path, tmp_path: Path) -> Path:
    """A private copy each test may change."""
    return Path(shutil.copytree(pristine, tmp_path / "mistral3"))


def test_transformers_5_names(checkpoint: Path, tmp_path: Path, ids: list[int]) -> None:
    stored = load_file(checkpoint / "model.safetensors")
    assert "language_model.lm_head.weight" in stored
    assert any(n.startswith("vision_tower.transformer.") for n in stored)
    convert_and_compare(checkpoint, tmp_path / "out", ids)


def test_transformers_4_52_names(checkpoint: Path, tmp_path: Path, ids: list[int]) -> None:
    rename_tensors(checkpoint, NAMES_4_52)
    stored = load_file(checkpoint / "model.safetensors")
    assert "lm_head.weight" in stored and "model.language_model.norm.weight" in stored
    assert any(n.startswith("model.multi_modal_projector.patch_merger.") for n in stored)
    convert_and_compare(checkpoint, tmp_path / "out", ids)


def test_hub_config_resaved_by_transformers_5(
    checkpoint: Path, tmp_path: Path, ids: list[int]
) -> None:
    """As the hub's config reads once transformers 5 saved it again: the whole model says
    ``tie_word_embeddings: true`` (Mistral3Config's default) while the text model and the
    stored, different ``lm_head`` say untied; rope keys in the pre-5 layout, Mistral Small's
    rope base 1e9 and its context length left to MistralConfig's default."""
    config = json.loads((checkpoint / "config.json").read_text())
    text = config["text_config"]
    for key in ("rope_parameters", "max_position_embeddings", "dtype"):
        text.pop(key, None)
    text["rope_theta"] = 1e9
    edit_config(checkpoint, text_config=text, tie_word_embeddings=True, torch_dtype="float32")
    reader = convert_and_compare(checkpoint, tmp_path / "out", ids)
    assert reader.fields["llama.rope.freq_base"].contents() == pytest.approx(1e9)
    assert reader.fields["llama.context_length"].contents() == 131_072


def test_llava_with_a_mistral_text_model(tmp_path: Path, ids: list[int]) -> None:
    """Pixtral 12B in Hugging Face format: LlavaForConditionalGeneration around Mistral."""
    folder = build(tmp_path / "pixtral", "Llava", seed=2)
    convert_and_compare(folder, tmp_path / "out", ids)


def test_the_notes_say_the_image_part_is_not_converted(pristine: Path) -> None:
    summary = inspect_checkpoint(pristine)
    assert summary.supported and summary.architecture == "llama"
    assert len(summary.notes) == 1 and "mmproj" in summary.notes[0]


@pytest.mark.parametrize(
    ("hf_class", "text_type"),
    [
        ("Mistral3ForConditionalGeneration", "ministral3"),  # Ministral 3: scaled attention
        ("LlavaForConditionalGeneration", "qwen2"),  # LLaVA-Interleave
    ],
)
def test_other_text_models_are_refused(
    checkpoint: Path, tmp_path: Path, hf_class: str, text_type: str
) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    edit_config(
        checkpoint,
        architectures=[hf_class],
        text_config={**config["text_config"], "model_type": text_type},
    )
    out = tmp_path / "out"
    with pytest.raises(UnsupportedArchitecture, match=f"'{text_type}' model"):
        run_job(convert_checkpoint(checkpoint, out))
    assert not out.exists() or list(out.iterdir()) == []


#: The hub's config.json text parts, abridged to what transformers reads for the text model.
MISTRAL_SMALL_3_1 = {
    "architectures": ["Mistral3ForConditionalGeneration"],
    "model_type": "mistral3",
    "image_token_index": 10,
    "spatial_merge_size": 2,
    "multimodal_projector_bias": False,
    "projector_hidden_act": "gelu",
    "torch_dtype": "bfloat16",
    "text_config": {
        "head_dim": 128,
        "hidden_act": "silu",
        "hidden_size": 5120,
        "intermediate_size": 32768,
        "max_position_embeddings": 131072,
        "model_type": "mistral",
        "num_attention_heads": 32,
        "num_hidden_layers": 40,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05,
        "rope_theta": 1000000000.0,
        "sliding_window": None,
        "vocab_size": 131072,
    },
    "vision_config": {"model_type": "pixtral", "image_size": 1540, "patch_size": 14},
}
PIXTRAL_12B = {
    "architectures": ["LlavaForConditionalGeneration"],
    "model_type": "llava",
    "image_token_index": 10,
    "text_config": {
        "head_dim": 128,
        "hidden_size": 5120,
        "intermediate_size": 14336,
        "max_position_embeddings": 1024000,
        "model_type": "mistral",
        "num_hidden_layers": 40,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05,
        "rope_theta": 1000000000.0,
        "sliding_window": None,
        "vocab_size": 131072,
    },
    "vision_config": {"model_type": "pixtral", "image_size": 1024, "patch_size": 16},
}
LLAVA_1_5_7B = {
    "architectures": ["LlavaForConditionalGeneration"],
    "model_type": "llava",
    "image_token_index": 32000,
    "text_config": {
        "max_position_embeddings": 4096,
        "model_type": "llama",
        "rms_norm_eps": 1e-05,
        "vocab_size": 32064,
    },
    "vision_config": {"model_type": "clip_vision_model", "image_size": 336, "patch_size": 14},
}
MODEL_CLASSES = {"mistral3": transformers.Mistral3Config, "llava": transformers.LlavaConfig}


@pytest.mark.parametrize("config", [MISTRAL_SMALL_3_1, PIXTRAL_12B, LLAVA_1_5_7B])
def test_hub_configs_read_as_transformers_reads_them(config: dict[str, Any]) -> None:
    hp = read_hparams(config)
    kwargs = {k: v for k, v in config.items() if k not in ("architectures", "model_type")}
    text = MODEL_CLASSES[config["model_type"]](**kwargs).text_config
    assert (hp.n_layer, hp.n_embd, hp.n_ff, hp.vocab_size) == (
        text.num_hidden_layers,
        text.hidden_size,
        text.intermediate_size,
        text.vocab_size,
    )
    assert (hp.n_head, hp.n_head_kv, hp.head_dim) == (
        text.num_attention_heads,
        text.num_key_value_heads,
        text.head_dim,
    )
    assert (hp.context_length, hp.rms_eps) == (text.max_position_embeddings, text.rms_norm_eps)
    assert hp.rope.theta == text.rope_parameters["rope_theta"]
    assert hp.rope.scaling_type == text.rope_parameters["rope_type"] == "default"
    assert hp.tied_embeddings is text.tie_word_embeddings is False


@pytest.mark.parametrize(
    ("defaults", "config_class"),
    [
        (MISTRAL_TEXT_DEFAULTS, transformers.MistralConfig),
        (LLAMA_TEXT_DEFAULTS, transformers.LlamaConfig),
    ],
)
def test_the_defaults_are_transformers_own(defaults: Any, config_class: Any) -> None:
    reference = config_class()
    for names, value in defaults:
        assert value == getattr(reference, names[0]), names[0]


def test_the_hub_offers_what_the_converter_converts() -> None:
    assert is_supported("mistral3") and is_supported("llava")
    assert model_type_of({"architectures": ["Mistral3ForConditionalGeneration"]}) == "mistral3"
    assert model_type_of({"architectures": ["LlavaForConditionalGeneration"]}) == "llava"
    assert model_type_of(None, tags=("transformers", "mistral3", "image-text-to-text")) == (
        "mistral3"
    )
