"""Helpers for the Hub tab tests: real tiny GGUF levels served by the fake hub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from converter.progress import run_job
from converter.quantize import quantize_gguf
from tests.support.checkpoints import build_checkpoint
from tests.support.gguf_factory import write_tiny_gguf
from tests.support.hub_server import FakeHub, FakeRepo, serve
from tests.support.ui_helpers import TINY_SHAPE

GGUF_REPO = "org/tiny-GGUF"
CHECKPOINT_REPO = "org/tiny-llama"
GATED_REPO = "meta/gated-GGUF"
SPLIT_REPO = "org/split-GGUF"
LEVELS = ("Q4_K_M", "Q8_0")
LLAMA_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}


@pytest.fixture(scope="module", name="tiny_levels")
def tiny_levels_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model at F16 and two levels made by the real quantizer: level → file."""
    folder = tmp_path_factory.mktemp("levels")
    f16 = write_tiny_gguf(folder / "tiny-F16.gguf", TINY_SHAPE)
    files = {"F16": f16}
    for level in LEVELS:
        files[level] = run_job(quantize_gguf(f16, level, threads=1)).path
    return files


def checkpoint_repo(folder: Path) -> FakeRepo:
    """A hub repo holding a checkpoint folder made by :func:`build_checkpoint`."""
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    return FakeRepo(CHECKPOINT_REPO, files, config=json.loads(files["config.json"]), downloads=90)


@pytest.fixture(scope="module", name="tiny_checkpoint")
def tiny_checkpoint_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint(
        "llama", tmp_path_factory.mktemp("ckpt") / "tiny-llama", num_hidden_layers=1
    )


@pytest.fixture(name="hub")
def hub_fixture(monkeypatch: pytest.MonkeyPatch, tiny_levels: dict[str, Path]) -> Iterator[FakeHub]:
    """A GGUF repo, a checkpoint repo (listing only), a gated repo and a split model."""
    gguf = {f"tiny-{level}.gguf": path.read_bytes() for level, path in tiny_levels.items()}
    q8 = gguf["tiny-Q8_0.gguf"]
    half = len(q8) // 2
    repos = (
        FakeRepo(GGUF_REPO, gguf, tags=("gguf", "llama"), downloads=1500, likes=12),
        FakeRepo(
            CHECKPOINT_REPO,
            {"config.json": json.dumps(LLAMA_CONFIG).encode(), "model.safetensors": b"0" * 4000},
            config=LLAMA_CONFIG,
            downloads=90,
            likes=3,
            safetensors_params={"F32": 1000},
        ),
        FakeRepo(GATED_REPO, {"gated-Q8_0.gguf": q8}, gated=True, license="llama3.2"),
        FakeRepo(
            SPLIT_REPO,
            {
                "split-Q8_0-00001-of-00002.gguf": q8[:half],
                "split-Q8_0-00002-of-00002.gguf": q8[half:],
            },
            tags=("gguf",),
        ),
    )
    hub = serve(monkeypatch, *repos)
    yield hub
    hub.stop()
