"""Huge pages for the large buffers of the child processes, on Linux with glibc.

Generating a token on the CPU reads every weight of the model once. In 4 KiB pages the
235 MiB of Gemma 3 270M Q4_K_M span 60,000 pages, far more than the CPU's TLB holds, so
every token pays tens of thousands of page-table walks; in 2 MiB pages it is 120. Linux
backs memory with such *transparent huge pages* where a program asks for them (the
``madvise`` mode, the default of most distributions) or everywhere (``always``). glibc 2.35
and later asks for them for all its large allocations when the environment variable
``GLIBC_TUNABLES`` holds ``glibc.malloc.hugetlb=1``; it reads the variable when a process
starts, so :func:`ask_huge_pages_for_children` puts it in this process's environment for
the children it starts (this process keeps its allocator as it started).

llama.cpp maps the model file into memory by default, and file pages stay 4 KiB. So the
inference worker reads the weights into allocated memory instead (llama.cpp's "no mmap"
load) where llama.cpp is built for the CPU alone and the allocator asks for huge pages
(:func:`malloc_uses_huge_pages`); the KV cache and the compute buffers get huge pages too.
Measured on a 2-core AMD EPYC (docs/benchmarks.md): Gemma 3 270M replies went from 0.955 to
1.036 of llama-bench's speed (its default, mapped load) in one paired run.

The apps set the variable as they start, while they run one thread; starting a child sets it
too (a no-op by then), for code that starts children without the apps.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

#: The kernel's transparent-huge-page mode: ``always [madvise] never``, the chosen one bracketed.
THP_MODE_FILE = Path("/sys/kernel/mm/transparent_hugepage/enabled")
#: glibc's tunable: 1 asks for transparent huge pages with ``madvise``.
HUGETLB_TUNABLE = "glibc.malloc.hugetlb"

#: The tunables this process started with (read before anything here changes them).
_STARTED_WITH = os.environ.get("GLIBC_TUNABLES", "")


@functools.cache
def huge_pages_offered(mode_file: Path = THP_MODE_FILE) -> bool:
    """The kernel gives transparent huge pages to memory that asks (mode always or madvise);
    read once per process (every memory estimate asks)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        modes = mode_file.read_text().split()
    except OSError:
        return False
    return "[always]" in modes or "[madvise]" in modes


def with_huge_page_tunable(tunables: str) -> str:
    """``tunables`` (a ``GLIBC_TUNABLES`` value) asking malloc for huge pages; a hugetlb
    setting already there (the user's own) is kept as it is."""
    if _hugetlb_value(tunables) is not None:
        return tunables
    entries = [entry for entry in tunables.split(":") if entry]
    return ":".join([*entries, f"{HUGETLB_TUNABLE}=1"])


def _glibc() -> bool:
    try:  # "glibc 2.36"; musl, macOS and Windows have no such entry
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        return False
    return version.startswith("glibc")


def _tunable_works() -> bool:
    """glibc reads the tunable and the kernel gives the huge pages it asks for."""
    return _glibc() and huge_pages_offered()


def ask_huge_pages_for_children() -> None:
    """Make the children started from now on ask glibc's malloc for huge pages (where the
    kernel offers them); does nothing elsewhere, or when already done."""
    if not _tunable_works():
        return
    current = os.environ.get("GLIBC_TUNABLES", "")
    wanted = with_huge_page_tunable(current)
    if wanted != current:
        os.environ["GLIBC_TUNABLES"] = wanted


def children_get_huge_pages() -> bool:
    """The children started from here ask for huge pages (or will, once one is started)."""
    if not _tunable_works():
        return False
    return _hugetlb_on(with_huge_page_tunable(os.environ.get("GLIBC_TUNABLES", "")))


def _hugetlb_value(tunables: str) -> str | None:
    """The hugetlb setting in ``tunables`` (a ``GLIBC_TUNABLES`` value), None without one."""
    for entry in tunables.split(":"):
        name, _, value = entry.partition("=")
        if name == HUGETLB_TUNABLE:
            return value
    return None


def _hugetlb_on(tunables: str) -> bool:
    return _hugetlb_value(tunables) in ("1", "2")


def malloc_uses_huge_pages() -> bool:
    """This process's malloc asks for huge pages and the kernel offers them."""
    if not _tunable_works():
        return False
    return _hugetlb_on(_STARTED_WITH)
