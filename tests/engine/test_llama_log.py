"""llama.cpp's log through the app's callback: silent without ``verbose``, also at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.support.gguf_factory import write_tiny_gguf


def _run(script: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_a_model_left_open_at_exit_logs_nothing(tmp_path: Path) -> None:
    """A model freed while Python shuts down still logs; the callback must not import then (it
    printed 'ImportError: sys.meta_path is None' twice for a model the worker loader opened)."""
    model = write_tiny_gguf(tmp_path / "tiny-F16.gguf")
    result = _run(
        f"""
        from pathlib import Path
        from desktop.engine.worker import LoadSettings
        from desktop.engine.worker.loader import load_model
        llama, _info = load_model(
            Path({str(model)!r}), LoadSettings(ctx_tokens=256, threads=1),
            on_progress=lambda _fraction: None, cancelled=lambda: False,
        )
        """
    )
    assert result.stderr == ""


def test_verbose_shows_llama_cpp_lines(tmp_path: Path) -> None:
    model = write_tiny_gguf(tmp_path / "tiny-F16.gguf")
    result = _run(
        f"""
        from desktop.engine.llama_loading import open_llama
        llama = open_llama({str(model)!r}, n_ctx=256, verbose=True)
        """
    )
    assert "llama_" in result.stderr and "Traceback" not in result.stderr
