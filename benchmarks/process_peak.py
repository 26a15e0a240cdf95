"""Wall time, CPU time and peak memory of one command, measured separately for every run.

The kernel's own peak (``ru_maxrss`` from ``wait4``) is exact, but Linux folds into it the
high-water mark of the memory the process had before ``exec``: a command started straight from
a benchmark that has loaded models would report the benchmark's own peak. So every command is
started by a fresh, bare Python wrapper (``python -S``, a few MiB) that reports the command's
rusage. That peak counts each process alone and mixes file-backed pages with heap, so the
command's process tree is also sampled every 50 ms for its anonymous memory (heap, arrays),
which is what a machine must really have free; memory-mapped checkpoint pages are resident
too, but the kernel can drop them at will.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

POLL_SECONDS = 0.05
#: The wrapper: runs argv[2:], writes its wall time and rusage to argv[1], exits with its code.
_WRAPPER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_pid, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - start
child.returncode = code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as out:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
               "maxrss_kib": usage.ru_maxrss, "code": code}, out)
sys.exit(code)
"""


class CommandFailed(RuntimeError):
    """A measured command exited with an error; its log says why."""


@dataclass(frozen=True, slots=True)
class Measurement:
    wall_s: float
    cpu_s: float  # user + system, of the command and the children it waited for
    peak_rss: int  # bytes: the largest single-process peak the kernel recorded
    peak_tree_rss: int  # bytes: sampled sum over the command's process tree
    peak_tree_anon: int  # bytes: sampled, anonymous memory only (no file-backed pages)


def _tree_memory(wrapper: psutil.Process) -> tuple[int, int]:
    """(resident, anonymous) bytes summed over the wrapper's descendants right now."""
    rss = anon = 0
    try:
        processes = wrapper.children(recursive=True)
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
    report = log.with_suffix(".rusage.json")
    wrapped = [sys.executable, "-S", "-c", _WRAPPER, str(report), *command]
    with log.open("wb") as output:
        wrapper = subprocess.Popen(
            wrapped, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
        root = psutil.Process(wrapper.pid)
        peak_rss = peak_anon = 0
        while wrapper.poll() is None:
            rss, anon = _tree_memory(root)
            peak_rss, peak_anon = max(peak_rss, rss), max(peak_anon, anon)
            time.sleep(POLL_SECONDS)
    if wrapper.returncode != 0:
        raise CommandFailed(f"{command[:3]} exited with {wrapper.returncode}; see {log}")
    usage = json.loads(report.read_text())
    return Measurement(
        wall_s=usage["wall"],
        cpu_s=usage["cpu"],
        peak_rss=usage["maxrss_kib"] * 1024,
        peak_tree_rss=peak_rss,
        peak_tree_anon=peak_anon,
    )
