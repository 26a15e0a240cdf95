"""GPU memory as the NVIDIA driver counts it, for comparing with Quantdesk's predictions.

Two views, because containers differ: the device's used memory (always readable; only
meaningful because the benchmark runs one model at a time on a GPU nothing else uses), and a
process's own figure (NVML reports host PIDs, which a container's PIDs may not match, so it
can be missing). Both return None where there is no NVIDIA driver, so a CPU rehearsal runs the
same code.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _nvml() -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pynvml
        except ImportError:
            yield None
            return
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        yield None
        return
    try:
        yield pynvml
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def device_used_bytes(index: int = 0) -> int | None:
    """Memory in use on GPU ``index`` (all processes, driver reservations included)."""
    with _nvml() as nvml:
        if nvml is None:
            return None
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            return int(nvml.nvmlDeviceGetMemoryInfo(handle).used)
        except nvml.NVMLError:
            return None


def process_used_bytes(pid: int, index: int = 0) -> int | None:
    """What NVML says ``pid`` holds on GPU ``index``, or None when it does not list that PID."""
    with _nvml() as nvml:
        if nvml is None:
            return None
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == pid and proc.usedGpuMemory is not None:
                    return int(proc.usedGpuMemory)
        except nvml.NVMLError:
            return None
    return None


def device_facts(index: int = 0) -> dict[str, Any]:
    """Name, total memory, driver and memory bus figures of GPU ``index`` (empty without one)."""
    with _nvml() as nvml:
        if nvml is None:
            return {}
        facts: dict[str, Any] = {}
        with contextlib.suppress(nvml.NVMLError):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            facts["name"] = name.decode() if isinstance(name, bytes) else name
            facts["total_bytes"] = int(nvml.nvmlDeviceGetMemoryInfo(handle).total)
            driver = nvml.nvmlSystemGetDriverVersion()
            facts["driver"] = driver.decode() if isinstance(driver, bytes) else driver
            facts["memory_clock_mhz"] = int(
                nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_MEM)
            )
            facts["memory_bus_bits"] = int(nvml.nvmlDeviceGetMemoryBusWidth(handle))
        return facts
