"""Flash attention is on by default on the CPU, as llama.cpp's own ``-fa auto`` turns it on;
a user's explicit "off" is kept; and the fit verdict predicts memory for the same switch.

The state is read from llama.cpp itself: the context it creates logs its flash-attention
type, which the tests capture with their own log callback while the app's loader opens the
real tiny model (in a child process, like the app's worker)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from converter.child_process import run_in_child
from desktop.engine.worker.settings import LoadSettings
from tests.support import worker_helpers

tiny_model = worker_helpers.tiny_model

CTX_TOKENS = 4096  # long enough that the two switches predict clearly different RAM


def load_and_read_llama_log(
    _emit: Any, path: Path, settings: LoadSettings | None
) -> tuple[bool | None, str]:
    """In a child: load with the app's loader (``settings``) or as a speed or quality
    measurement opens a model (None); the LoadInfo's switch (None for a measurement) and the
    one llama.cpp logged for the context it created ("enabled", "disabled")."""
    import llama_cpp

    from desktop.engine.measure.loaded_model import close_measured, open_for_measuring
    from desktop.engine.worker.loader import load_model

    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def collect(_level: int, text: bytes, _user_data: Any) -> None:
        lines.append(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(collect, None)
    recorded: bool | None = None
    if settings is None:
        close_measured(open_for_measuring(path, n_ctx=256, n_threads=1))
    else:
        llama, info = load_model(
            path, settings, on_progress=lambda _f: None, cancelled=lambda: False
        )
        llama.close()
        recorded = info.flash_attention
    logged = re.findall(r"flash_attn\s*=\s*(\w+)", "".join(lines))
    assert logged, "llama.cpp logged no flash-attention setting for the context"
    return recorded, logged[-1]


def _load(path: Path, settings: LoadSettings | None) -> tuple[bool | None, str]:
    return run_in_child(load_and_read_llama_log, path, settings, what="Loading the tiny model")


@pytest.mark.parametrize(
    ("asked", "expected"),
    [(None, "enabled"), (False, "disabled"), (True, "enabled")],
    ids=["default", "user-off", "user-on"],
)
def test_cpu_load_uses_flash_attention_unless_switched_off(
    tiny_model: Path, asked: bool | None, expected: str
) -> None:
    settings = LoadSettings(ctx_tokens=256, gpu_layers=0, threads=1, flash_attention=asked)
    recorded, logged = _load(tiny_model, settings)
    assert logged == expected
    assert recorded is (expected == "enabled")


def test_a_measurement_opens_models_with_the_same_default(tiny_model: Path) -> None:
    """Compare's speed and quality runs open models themselves: the same switch as chat."""
    assert _load(tiny_model, None) == (None, "enabled")


def test_fit_verdict_predicts_for_the_switch_the_loader_uses(tiny_model: Path) -> None:
    from desktop.engine.hardware import probe_hardware
    from desktop.engine.memory_model import estimate_memory
    from desktop.services.fit_text import plan_for

    cpu_only = replace(probe_hardware(), gpus=())
    loaded_with, _logged = _load(tiny_model, LoadSettings(ctx_tokens=256, gpu_layers=0))
    assert loaded_with is not None
    verdict = plan_for(tiny_model, cpu_only, CTX_TOKENS, "f16").estimate
    same = estimate_memory(tiny_model, ctx_tokens=CTX_TOKENS, flash_attention=loaded_with)
    other = estimate_memory(tiny_model, ctx_tokens=CTX_TOKENS, flash_attention=not loaded_with)
    assert verdict == same
    assert verdict.ram_bytes != other.ram_bytes  # the switch matters, so the check has teeth
