"""OLMo 2: the GGUF has the tensors llama.cpp's olmo2 graph loads, and configs it would compute
differently are refused before any output exists.

(Logits against transformers are in test_convert_logits's ``olmo2`` case.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import pytest

from converter.architectures import BY_HF_CLASS, BY_MODEL_TYPE
from converter.architectures.hparams import read_hparams
from converter.architectures.olmo2 import OLMO2
from converter.convert import convert_checkpoint
from converter.errors import UnsupportedArchitecture
from converter.hub.repo_kind import is_supported, model_type_of
from converter.progress import run_job
from tests.support.checkpoints import build_checkpoint

#: An OLMo-2-style config.json, shrunk.
CONFIG = {
    "architectures": ["Olmo2ForCausalLM"],
    "model_type": "olmo2",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 1,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 50257,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}


def test_layer_tensors_are_olmo2s(tmp_path: Path) -> None:
    folder = build_checkpoint("olmo2", tmp_path / "olmo2", num_hidden_layers=1)
    written = run_job(convert_checkpoint(folder, tmp_path / "out"))
    reader = gguf.GGUFReader(written.path)
    assert reader.fields["general.architecture"].contents() == "olmo2"
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    assert shapes["blk.0.attn_q_norm.weight"] == (256,)  # all heads at once, not per head
    assert shapes["blk.0.attn_k_norm.weight"] == (128,)
    assert {"blk.0.post_attention_norm.weight", "blk.0.post_ffw_norm.weight"} <= set(shapes)
    assert not any(name.endswith(("attn_norm.weight", "ffn_norm.weight")) for name in shapes)
    assert shapes["output.weight"] == (256, 50257)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"attention_bias": True}, "attention_bias"),
        ({"tie_word_embeddings": True}, "tied embeddings"),
        ({"head_dim": 32}, "head size"),
        ({"rope_scaling": {"rope_type": "linear", "factor": 2.0}}, "rope scaling"),
    ],
    ids=["attention-bias", "tied", "head-dim", "linear-rope"],
)
def test_configs_llama_cpp_would_misread_are_refused(
    overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(UnsupportedArchitecture, match=reason):
        OLMO2.check(read_hparams({**CONFIG, **overrides}))


def test_refused_before_any_output(tmp_path: Path) -> None:
    folder = build_checkpoint("olmo2", tmp_path / "bias", num_hidden_layers=1, attention_bias=True)
    out = tmp_path / "out"
    with pytest.raises(UnsupportedArchitecture, match="attention_bias"):
        run_job(convert_checkpoint(folder, out))
    assert not out.exists() or not any(out.iterdir())


def test_hub_repos_of_olmo2_are_supported() -> None:
    assert BY_HF_CLASS["Olmo2ForCausalLM"] is OLMO2
    assert BY_MODEL_TYPE["olmo2"] is OLMO2
    assert is_supported(model_type_of({"architectures": ["Olmo2ForCausalLM"]}))
