"""The conversion wizard's hub source: ``ORG/NAME`` typed on the source page is downloaded.

:func:`converter.hub.fetch.resolve_source` does the work (download into the hub cache, reuse
a complete earlier download when offline) and reports through a callback; the wizard expects a
job that yields progress: :func:`converter.progress.blocking_job` adapts one to the other, so
cancelling the wizard stops the download at the next chunk. Plain Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from converter.hub.fetch import looks_like_repo_id, resolve_source
from converter.progress import CancelToken, Job, Progress, blocking_job


@dataclass(frozen=True, slots=True)
class HubRepoSource:
    """A Hugging Face model name; local folders of the same shape are left to the folder source."""

    description: str = "A Hugging Face model name such as Qwen/Qwen2.5-0.5B-Instruct (downloaded)"

    def accepts(self, text: str) -> bool:
        text = text.strip()
        return looks_like_repo_id(text) and not Path(text).expanduser().is_dir()

    def resolve(self, text: str, cancel: CancelToken) -> Job[Path]:
        return (yield from _relay(text.strip(), cancel))


def _relay(repo_id: str, cancel: CancelToken) -> Job[Path]:
    def download(report: Callable[[Progress], None], stop: CancelToken) -> Path:
        return resolve_source(repo_id, cancel=stop, on_progress=report)

    return (yield from blocking_job(download, name=f"hub source {repo_id}", cancel=cancel))
