"""Wall time, CPU time and peak memory of one command, measured separately for every run.

The kernel's own peak (``ru_maxrss`` from ``wait4`` on that very child) is exact but counts
each process alone and mixes file-backed pages with heap. So the process tree is also sampled
every 50 ms: the summed resident size, and the part of it that is anonymous memory (heap,
arrays), which is what a machine must really have free. Memory-mapped checkpoint pages are
resident too, but the kernel can drop them at will.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

POLL_SECONDS = 0.05


class CommandFailed(RuntimeError):
    """A measured command exited with an error; its log says why."""


@dataclass(frozen=True, slots=True)
class Measurement:
    wall_s: float
    cpu_s: float  # user + system, of the process and the children it waited for
    peak_rss: int  # bytes: the largest single-process peak the kernel recorded
    peak_tree_rss: int  # bytes: sampled sum over the process tree
    peak_tree_anon: int  # bytes: sampled, anonymous memory only (no file-backed pages)


def _tree_memory(root: psutil.Process) -> tuple[int, int]:
    """(resident, anonymous) bytes summed over ``root`` and its descendants right now."""
    rss = anon = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for process in processes:
        try:
            info = process.memory_info()
        except psutil.Error:
            continue  # exited between listing and reading
        rss += info.rss
        anon += info.rss - info.shared  # shared = resident file-backed + shmem pages
    return rss, anon


def measure(command: Sequence[str], *, log: Path, env: Mapping[str, str], cwd: Path) -> Measurement:
    """Run ``command`` to completion (output to ``log``) and measure it; raise on failure."""
    with log.open("wb") as output:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        root = psutil.Process(child.pid)
        peak_rss = peak_anon = 0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            rss, anon = _tree_memory(root)
            peak_rss, peak_anon = max(peak_rss, rss), max(peak_anon, anon)
            time.sleep(POLL_SECONDS)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if child.returncode != 0:
        raise CommandFailed(f"{command[:3]} exited with {child.returncode}; see {log}")
    return Measurement(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss=usage.ru_maxrss * 1024,  # Linux reports KiB
        peak_tree_rss=peak_rss,
        peak_tree_anon=peak_anon,
    )
