"""Memory a process uses: resident RAM (psutil) and, on NVIDIA GPUs, VRAM (NVML).

Read from the parent for the child's pid, so asking costs the child nothing.
"""

from __future__ import annotations

import psutil


def ram_bytes(pid: int) -> int | None:
    """Resident set size of ``pid``, or None when it has gone."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def vram_bytes(pid: int) -> int | None:
    """GPU memory ``pid`` holds on all NVIDIA GPUs, or None without NVML (no driver, no GPU)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        total = 0
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == pid and proc.usedGpuMemory is not None:
                    total += int(proc.usedGpuMemory)
        return total
    except pynvml.NVMLError:
        return None
    finally:
        pynvml.nvmlShutdown()
