"""Entry points load the C++ runtime and llama.cpp's libraries before numpy.

A spawned child process imports its parent's main module again before it runs anything, and
on a CUDA machine a process that had imported numpy before llama.cpp's libraries segfaulted
when it loaded a model: ``libllama.so`` bound its C++ stream output to the copies that
``libggml-cuda.so`` exports (``converter/child_process.py``). So every module a person starts
(the CLI, the app, each benchmark) must either leave numpy alone when imported or load
llama.cpp first, and the preload puts the system's C++ runtime in the global symbol scope. The
crash needs a CUDA build; these tests check the conditions that prevent it.
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

#: ``std::ostream& std::ostream::_M_insert<long>(long)``: the function that crashed.
_GLOBAL_STREAM_INSERT = """
import ctypes, sys
if sys.argv[1] == "preload":
    from converter.child_process import preload_llama_libraries
    preload_llama_libraries()
print(hasattr(ctypes.CDLL(None), "_ZNSo9_M_insertIlEERSoT_"))
"""


def _python(script: str, argument: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, argument],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


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
    assert _python(_ORDER, module) == "True", f"{module} imports numpy before llama.cpp's libraries"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the symbol scope is Linux's")
def test_the_preload_puts_the_cxx_runtime_in_the_global_scope() -> None:
    assert _python(_GLOBAL_STREAM_INSERT, "bare") == "False"  # the interpreter lacks it
    assert _python(_GLOBAL_STREAM_INSERT, "preload") == "True"
