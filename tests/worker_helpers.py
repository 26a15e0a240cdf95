"""Fixtures shared by the inference-worker and chat-command tests."""

from __future__ import annotations

import multiprocessing.resource_tracker
from pathlib import Path

import pytest

from tests.gguf_factory import write_tiny_gguf


@pytest.fixture(scope="module", autouse=True)
def resource_tracker_started() -> None:
    """Start multiprocessing's resource tracker before the module's first test.

    Spawning the first worker starts this helper process, which then lives as long as the
    test session; started inside a test it would look like a leaked worker to conftest.
    """
    multiprocessing.resource_tracker.ensure_running()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random llama model (F16, 2 layers, 320-token vocabulary)."""
    return write_tiny_gguf(tmp_path_factory.mktemp("worker") / "tiny.gguf")
