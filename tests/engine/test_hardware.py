"""The hardware probe: sane values, JSON, the no-GPU and no-pynvml paths, the reinstall hint."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

from desktop.commands.hw_command import describe
from desktop.engine.hardware import GpuInfo, HardwareInfo, probe_hardware
from tests.conftest import REPO_ROOT


def test_probe_is_quick_and_sane() -> None:
    probe_hardware()  # first call imports llama_cpp
    started = time.perf_counter()
    info = probe_hardware()
    assert time.perf_counter() - started < 1.0
    assert info.ram_total_bytes > 0
    assert 0 < info.ram_available_bytes <= info.ram_total_bytes
    assert info.cpu.logical_cores >= info.cpu.physical_cores >= 1
    assert "CPU" in info.offload.backends
    assert info.offload.llama_cpp_version == "0.3.36"


def test_json_round_trip() -> None:
    info = probe_hardware()
    assert HardwareInfo.from_json(json.loads(json.dumps(info.to_json()))) == info


def test_cli_json_is_the_probe() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "hw", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ram_total_bytes"] == probe_hardware().ram_total_bytes


def _fake(gpus: tuple[GpuInfo, ...], backends: tuple[str, ...]) -> HardwareInfo:
    real = probe_hardware()
    return replace(real, gpus=gpus, gpu_note="", offload=replace(real.offload, backends=backends))


def test_no_gpu_is_reported_plainly() -> None:
    info = _fake((), ("CPU",))
    info = replace(info, gpu_note="No NVIDIA driver found.")
    text = describe(info)
    assert "GPU:     none. No NVIDIA driver found." in text
    assert info.reinstall_hint() is None


def test_reinstall_hint_when_the_build_cannot_use_the_gpu() -> None:
    cuda = GpuInfo(0, "NVIDIA H100", "CUDA", 80 * 1024**3, 79 * 1024**3, "550.54", "9.0")
    info = _fake((cuda,), ("CPU",))
    hint = info.reinstall_hint()
    assert hint == (
        f'CMAKE_ARGS="-DGGML_CUDA=on" {sys.executable} -m pip install --force-reinstall '
        "--no-cache-dir --no-deps llama-cpp-python==0.3.36"
    )
    assert hint in describe(info)
    assert _fake((cuda,), ("CPU", "CUDA")).reinstall_hint() is None
    metal = GpuInfo(0, "Apple M3", "Metal", 16 * 1024**3, 16 * 1024**3, unified_memory=True)
    assert '"-DGGML_METAL=on"' in (_fake((metal,), ("CPU",)).reinstall_hint() or "")


def test_probe_without_pynvml() -> None:
    script = textwrap.dedent(
        """
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "pynvml":
                    raise ImportError("blocked")
        sys.meta_path.insert(0, Block())
        from desktop.engine.hardware import probe_hardware
        info = probe_hardware()
        print(info.gpu_note)
        print(len(info.gpus))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    note, count = result.stdout.strip().splitlines()
    assert "pynvml" in note and "not installed" in note
    assert count == "0"


def test_memory_bandwidth_is_measured_in_plausible_bytes_per_second() -> None:
    from desktop.engine.hardware import measure_memory_bandwidth

    assert 1e8 < measure_memory_bandwidth(budget_seconds=0.1) < 1e13


def test_threads_default_to_the_physical_cores_and_are_shared_between_models() -> None:
    import psutil

    from desktop.engine.hardware import default_threads, shared_threads

    physical = psutil.cpu_count(logical=False) or 1
    assert default_threads() == physical
    assert shared_threads(1) == physical
    assert shared_threads(2) == max(1, physical // 2)
    assert shared_threads(physical + 1) == 1  # never none


def test_a_model_wholly_on_the_gpu_generates_with_one_cpu_thread(tmp_path: Path) -> None:
    """With every layer offloaded the CPU only looks up embeddings: one generation thread, so
    no pool of spinning threads sits beside the one that draws tokens. Any layer on the CPU,
    or a count the user chose, keeps the usual count."""
    from desktop.engine.hardware import default_threads
    from desktop.engine.worker.loader import generation_threads
    from desktop.engine.worker.settings import LoadSettings
    from tests.support.gguf_factory import TinyModelShape, write_tiny_gguf

    shape = TinyModelShape()
    model = write_tiny_gguf(tmp_path / "tiny.gguf", shape)
    blocks = shape.n_layer
    default = LoadSettings()
    assert generation_threads(model, default, -1) == 1
    assert generation_threads(model, default, blocks + 1) == 1
    assert generation_threads(model, default, blocks) == default_threads()  # output on the CPU
    assert generation_threads(model, default, 0) == default_threads()
    assert generation_threads(model, LoadSettings(threads=3), -1) == 3
