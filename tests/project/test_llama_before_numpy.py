"""Entry points load llama.cpp's libraries before numpy.

A spawned child process imports its parent's main module again before it runs anything, and
on a CUDA machine a process that had imported numpy before llama.cpp's libraries segfaulted
when it loaded a model with GPU offload (``converter/child_process.py``). So every module a
person starts (the CLI, the app, each benchmark) must either leave numpy alone when imported
or load llama.cpp first.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

_ORDER = """
import sys, importlib
importlib.import_module(sys.argv[1])
names = list(sys.modules)
numpy = names.index("numpy") if "numpy" in names else None
library = names.index("llama_cpp.llama_cpp") if "llama_cpp.llama_cpp" in names else None
print(numpy is None or (library is not None and library < numpy))
"""


@pytest.mark.parametrize(
    "module",
    [
        "desktop.cli",
        "desktop.ui.application",
        "benchmarks.imatrix_parity",
        "benchmarks.ladder_time",
    ],
)
def test_entry_point_loads_llama_before_numpy(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _ORDER, module],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True", f"{module} imports numpy before llama.cpp's libraries"
