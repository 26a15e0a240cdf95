"""A child loads the system's C++ runtime into the global scope before llama.cpp's libraries.

A CUDA build's ``libggml-cuda.so`` exports copies of C++ runtime internals; ``libllama.so``
bound its stream output to them and segfaulted while describing a model (see
:func:`converter.child_process.preload_llama_libraries`). The crash needs a CUDA build, so
this checks the condition that prevents it: after the preload, the C++ runtime's own stream
output is what the process's global scope resolves, as it is for every library loaded later.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

#: ``std::ostream& std::ostream::_M_insert<long>(long)``: the function that crashed.
_STREAM_INSERT = "_ZNSo9_M_insertIlEERSoT_"

_PROBE = textwrap.dedent(
    f"""
    import ctypes, sys
    if sys.argv[1] == "preload":
        from converter.child_process import preload_llama_libraries
        preload_llama_libraries()
    found = hasattr(ctypes.CDLL(None), "{_STREAM_INSERT}")
    print("found" if found else "missing")
    """
)


def _probe(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the symbol scope is Linux's")
def test_the_preload_puts_the_cxx_runtime_in_the_global_scope() -> None:
    assert _probe("bare") == "missing"  # the interpreter alone does not provide it
    assert _probe("preload") == "found"
