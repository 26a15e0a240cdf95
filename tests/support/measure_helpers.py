"""Shared set-up for the measurement tests: one tiny model at three levels, and a short text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converter.progress import run_job
from converter.quantize import quantize_gguf
from desktop.engine.measure.eval_text import load_eval_text
from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

#: One layer keeps every llama.cpp run in these tests to milliseconds.
SHAPE = TinyModelShape(n_layer=1)
#: Enough text for several 64-token chunks with the tiny vocabulary.
SHORT_TEXT = load_eval_text().text[:2500]
CTX = 64


@dataclass(frozen=True, slots=True)
class TinyLevels:
    f16: Path
    q8_0: Path
    q2_k: Path


def build_levels(folder: Path) -> TinyLevels:
    """A random F16 model and its Q8_0 and Q2_K quantizations, made by the app's quantizer."""
    f16 = write_tiny_gguf(folder / "tiny-F16.gguf", SHAPE, seed=7)
    q8_0 = run_job(quantize_gguf(f16, "Q8_0", threads=1)).path
    q2_k = run_job(quantize_gguf(f16, "Q2_K", threads=1)).path
    return TinyLevels(f16, q8_0, q2_k)
