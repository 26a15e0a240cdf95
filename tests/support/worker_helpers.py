"""Fixtures shared by the inference-worker, local-API and chat-command tests."""

from __future__ import annotations

from pathlib import Path

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
