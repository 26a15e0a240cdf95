"""The conversion wizard's hub source: ``ORG/NAME`` typed on the source page is downloaded.

:func:`converter.hub.fetch.resolve_source` does the work (download into the hub cache, reuse
a complete earlier download when offline) and reports through a callback; the wizard expects a
job that yields progress. The call runs on a helper thread and its progress is relayed from a
queue, so cancelling the wizard stops the download at the next chunk. Plain Python.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from converter.hub.fetch import looks_like_repo_id, resolve_source
from converter.progress import CancelToken, Job, Progress

_POLL_S = 0.1


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
    events: queue.Queue[Progress] = queue.Queue()
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["path"] = resolve_source(repo_id, cancel=cancel, on_progress=events.put)
        except BaseException as exc:  # handed to the job's caller below
            outcome["error"] = exc

    thread = threading.Thread(target=work, name=f"hub source {repo_id}", daemon=True)
    thread.start()
    try:
        while thread.is_alive() or not events.empty():
            try:
                yield events.get(timeout=_POLL_S)
            except queue.Empty:
                continue
    finally:
        if thread.is_alive():  # the job was closed early: stop the download too
            cancel.cancel()
            thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["path"]  # type: ignore[return-value]
