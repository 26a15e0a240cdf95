"""Fixtures shared by the inference-worker, local-API and chat-command tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.gguf_factory import write_tiny_gguf


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random llama model (F16, 2 layers, 320-token vocabulary)."""
    return write_tiny_gguf(tmp_path_factory.mktemp("worker") / "tiny.gguf")


@pytest.fixture(scope="module")
def endless_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random model whose replies never end by themselves: only a budget, a stop, a
    cancel or a completed grammar ends them. The local API serves it as ``tiny-chat``."""
    return write_tiny_gguf(tmp_path_factory.mktemp("endless") / "tiny-chat.gguf", never_ends=True)


def open_endless_llama(folder: Path, *, slots: int) -> Any:
    """The endless tiny model loaded as the worker loads it, with ``slots`` sequences (one
    thread, a 1024-token context): for driving a ``DecodeLoop`` directly. Close it after use."""
    from desktop.engine.worker.loader import load_model
    from desktop.engine.worker.settings import LoadSettings

    model = write_tiny_gguf(folder / "endless.gguf", never_ends=True)
    llama, _info = load_model(
        model,
        LoadSettings(ctx_tokens=1024, threads=1, parallel=slots),
        on_progress=lambda _fraction: None,
        cancelled=lambda: False,
    )
    return llama
