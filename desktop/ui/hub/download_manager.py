"""Downloads of GGUF models into the library, one at a time, in a thread of their own.

Each download is a small state machine (queued → running → paused / failed / done, or
cancelled), persisted in :mod:`download_queue` after every change so a restart resumes what was
pending. Transfers run in a private one-thread pool: a long download never holds a thread the
search, the repo listing or the library need. Misuse (pausing a finished download, resuming a
running one) raises instead of silently doing nothing. The hub's HTTP stack is imported by the
first transfer, not with the window (it is a large part of the app's start-up otherwise).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal

from converter.errors import Cancelled
from converter.hub.repo_kind import GgufChoice
from converter.hub.transfer import DownloadProgress
from converter.progress import CancelToken, Job
from desktop.services.download_queue import (
    DownloadEntry,
    DownloadState,
    discard_download_files,
    load_queue,
    save_queue,
)
from desktop.ui.thread_tasks import ThreadTask, job_worker

#: How long closing the app waits for a transfer to stop between two chunks.
SHUTDOWN_WAIT_MS = 5_000


def _transfer(entry: DownloadEntry, cancel: CancelToken, pause: CancelToken) -> Job[Path]:
    """The download as a job; its body, imports included, runs on the worker thread."""
    from converter.hub.fetch import download_gguf

    return (
        yield from download_gguf(
            entry.repo_id,
            entry.choice(),
            entry.dest_dir,
            revision=entry.revision,
            cancel=cancel,
            pause=pause,
        )
    )


class DownloadManager(QObject):
    """The app's downloads; widgets listen to its signals and call its verbs."""

    changed = Signal(str)  # key: state, message or the set of downloads changed
    progressed = Signal(str, object)  # key, DownloadProgress
    completed = Signal(str, object)  # key, Path of the file llama.cpp opens

    def __init__(self, queue_path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue_path = queue_path
        self._entries: dict[str, DownloadEntry] = {}
        self._progress: dict[str, DownloadProgress] = {}
        self._worker: ThreadTask | None = None
        self._running_key: str | None = None
        self._pause = CancelToken()
        self._closing = False
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)

    # queries -------------------------------------------------------------------------------
    def entries(self) -> list[DownloadEntry]:
        return list(self._entries.values())

    def entry(self, key: str) -> DownloadEntry:
        if key not in self._entries:
            raise KeyError(f"No download {key}")
        return self._entries[key]

    def find(self, repo_id: str, filename: str) -> DownloadEntry | None:
        return self._entries.get(f"{repo_id}/{filename}")

    def last_progress(self, key: str) -> DownloadProgress | None:
        return self._progress.get(key)

    # verbs ---------------------------------------------------------------------------------
    def restore(self) -> None:
        """Load the saved queue and start what was waiting or running when the app closed."""
        for entry in load_queue(self._queue_path):
            self._entries[entry.key] = entry
            self.changed.emit(entry.key)
        self._pump()

    def enqueue(
        self, repo_id: str, choice: GgufChoice, revision: str, dest_dir: Path
    ) -> DownloadEntry:
        entry = DownloadEntry(
            repo_id=repo_id,
            revision=revision,
            files=choice.files,
            size_bytes=choice.size_bytes,
            level=choice.level,
            dest_dir=dest_dir,
            existing=tuple(
                Path(n).name for n in choice.files if (dest_dir / Path(n).name).is_file()
            ),
        )
        if entry.key in self._entries:
            raise ValueError(f"{entry.title} is already in the downloads list.")
        self._set(entry)
        self._pump()
        return entry

    def pause(self, key: str) -> None:
        entry = self.entry(key)
        if entry.state is DownloadState.RUNNING:
            self._pause.cancel()  # the worker stops between chunks and reports DownloadPaused
        elif entry.state is DownloadState.QUEUED:
            self._set(entry.with_state(DownloadState.PAUSED, "Paused before it started."))
        else:
            raise RuntimeError(f"{entry.title} is {entry.state.value}; only a download can pause.")

    def resume(self, key: str) -> None:
        """Start a paused or failed download again; it continues from the bytes it has."""
        entry = self.entry(key)
        if entry.state not in (DownloadState.PAUSED, DownloadState.FAILED):
            raise RuntimeError(f"{entry.title} is {entry.state.value}; there is nothing to resume.")
        self._set(entry.with_state(DownloadState.QUEUED))
        self._pump()

    def cancel(self, key: str) -> None:
        """Stop and forget a download; its partial files are deleted."""
        entry = self.entry(key)
        if entry.state is DownloadState.RUNNING and self._worker is not None:
            self._worker.cancel()  # cleaned up when the worker reports Cancelled
            return
        self._forget(entry)

    def shutdown(self) -> None:
        """Stop the transfer for an app close: the queue keeps it, the next start resumes it."""
        self._closing = True
        save_queue(self.entries(), self._queue_path)  # a running one is saved as running
        if self._worker is not None:
            self._pause.cancel()
        self.pool.waitForDone(SHUTDOWN_WAIT_MS)

    # the one running download ------------------------------------------------------------
    def _pump(self) -> None:
        if self._closing or self._running_key is not None:
            return
        waiting = [e for e in self._entries.values() if e.state is DownloadState.QUEUED]
        if waiting:
            self._start(waiting[0])

    def _start(self, entry: DownloadEntry) -> None:
        self._pause = pause = CancelToken()
        worker = job_worker(lambda cancel: _transfer(entry, cancel, pause))
        key = entry.key
        worker.signals.yielded.connect(lambda event: self._on_progress(key, event))
        worker.signals.returned.connect(lambda path: self._on_done(key, path))
        worker.signals.errored.connect(lambda exc: self._on_error(key, exc))
        worker.signals.finished.connect(lambda: self._on_finished(key))
        self._worker, self._running_key = worker, key
        self._set(entry.with_state(DownloadState.RUNNING))
        worker.start(self.pool)

    def _on_progress(self, key: str, event: object) -> None:
        if isinstance(event, DownloadProgress) and key in self._entries:
            self._progress[key] = event
            self.progressed.emit(key, event)

    def _on_done(self, key: str, path: Path) -> None:
        if self._closing:
            return
        entry = self._entries.pop(key)
        self._progress.pop(key, None)
        self._save()
        self.changed.emit(entry.key)
        self.completed.emit(key, path)

    def _on_error(self, key: str, exc: BaseException) -> None:
        if self._closing or key not in self._entries:
            return
        from converter.hub.hub_errors import DownloadPaused  # loaded by the transfer already

        entry = self._entries[key]
        if isinstance(exc, Cancelled):
            self._forget(entry)
        elif isinstance(exc, DownloadPaused):
            self._set(entry.with_state(DownloadState.PAUSED, str(exc)))
        else:
            self._set(entry.with_state(DownloadState.FAILED, str(exc)))

    def _on_finished(self, key: str) -> None:
        if self._running_key == key:
            self._worker, self._running_key = None, None
        self._pump()

    # bookkeeping ---------------------------------------------------------------------------
    def _set(self, entry: DownloadEntry) -> None:
        self._entries[entry.key] = entry
        self._save()
        self.changed.emit(entry.key)

    def _forget(self, entry: DownloadEntry) -> None:
        discard_download_files(entry)
        self._entries.pop(entry.key, None)
        self._progress.pop(entry.key, None)
        self._save()
        self.changed.emit(entry.key)

    def _save(self) -> None:
        if not self._closing:
            save_queue(self.entries(), self._queue_path)
