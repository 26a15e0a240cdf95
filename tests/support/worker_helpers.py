"""Fixtures shared by the inference-worker and chat-command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gguf_factory import write_tiny_gguf


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random llama model (F16, 2 layers, 320-token vocabulary)."""
    return write_tiny_gguf(tmp_path_factory.mktemp("worker") / "tiny.gguf")
