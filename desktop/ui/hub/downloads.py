"""The downloads panel: one row per download with bytes, speed, time left and its buttons."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from converter.figures import span_text
from converter.hub.transfer import DownloadProgress
from converter.storage import format_bytes
from desktop.services.download_queue import DownloadEntry, DownloadState
from desktop.ui.hub.download_manager import DownloadManager

_STATE_WORDS = {
    DownloadState.QUEUED: "Waiting",
    DownloadState.RUNNING: "Downloading",
    DownloadState.PAUSED: "Paused",
    DownloadState.FAILED: "Failed",
}


def progress_words(event: DownloadProgress) -> str:
    """``"1.2 GiB of 4.1 GiB · 35.0 MiB/s · 1 min 25 s left"``."""
    parts = [
        f"{format_bytes(event.done)} of {format_bytes(event.total)}"
        if event.total
        else format_bytes(event.done)
    ]
    if event.bytes_per_second > 0:
        parts.append(f"{format_bytes(event.bytes_per_second)}/s")
    if event.seconds_left is not None:
        parts.append(f"{span_text(event.seconds_left)} left")
    if event.message.startswith("connection lost"):
        parts.append(event.message)
    return " · ".join(parts)


class DownloadRow(QFrame):
    """The widgets of one download; the manager's signals keep it current."""

    def __init__(self, manager: DownloadManager, key: str) -> None:
        super().__init__()
        self.setObjectName("downloadRow")
        self.manager, self.key = manager, key
        self.title = QLabel()
        self.title.setAccessibleName("Download")
        self.title.setWordWrap(True)  # a narrow window wraps the title instead of hiding buttons
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Download progress")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.detail = QLabel()
        self.detail.setObjectName("hint")
        self.detail.setAccessibleName("Download details")
        self.detail.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setAccessibleName("Pause download")
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel download")
        self.cancel_button.clicked.connect(lambda: self.manager.cancel(self.key))
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.pause_button)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        self.show_entry(manager.entry(key))

    def show_entry(self, entry: DownloadEntry) -> None:
        size = f" ({format_bytes(entry.size_bytes)})" if entry.size_bytes else ""
        self.title.setText(f"{entry.title}{size} · {_STATE_WORDS[entry.state]}")
        self.title.setToolTip(f"{entry.repo_id}: {', '.join(entry.files)} → {entry.dest_dir}")
        running = entry.state is DownloadState.RUNNING
        waiting = entry.state in (DownloadState.RUNNING, DownloadState.QUEUED)
        stopped_words = "Retry" if entry.state is DownloadState.FAILED else "Resume"
        self.pause_button.setText("Pause" if waiting else stopped_words)
        last = self.manager.last_progress(entry.key)
        if last is not None:
            self.show_progress(last)
        if entry.state is DownloadState.FAILED or (entry.message and not running):
            self.detail.setText(entry.message)
        elif last is None:
            self.detail.setText("Starting…" if running else "")

    def show_progress(self, event: DownloadProgress) -> None:
        if event.total:
            self.bar.setValue(int(1000 * event.done / event.total))
        self.detail.setText(progress_words(event))

    def _on_pause_clicked(self) -> None:
        entry = self.manager.entry(self.key)
        if entry.state in (DownloadState.RUNNING, DownloadState.QUEUED):
            self.manager.pause(self.key)
        else:
            self.manager.resume(self.key)


class DownloadsPanel(QWidget):
    """Every download the manager knows, newest last; empty when there is nothing to show."""

    def __init__(self, manager: DownloadManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Downloads")
        self.manager = manager
        self.rows: dict[str, DownloadRow] = {}
        self.empty = QLabel("No downloads. Choose a level in a GGUF repo and press Download.")
        self.empty.setObjectName("hint")
        self.empty.setWordWrap(True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.empty)
        self._layout.addStretch(1)
        manager.changed.connect(self._on_changed)
        manager.progressed.connect(self._on_progressed)
        for entry in manager.entries():
            self._on_changed(entry.key)

    def _on_changed(self, key: str) -> None:
        try:
            entry = self.manager.entry(key)
        except KeyError:  # finished or cancelled
            row = self.rows.pop(key, None)
            if row is not None:
                row.deleteLater()
        else:
            if key not in self.rows:
                self.rows[key] = DownloadRow(self.manager, key)
                self._layout.insertWidget(self._layout.count() - 1, self.rows[key])
            else:
                self.rows[key].show_entry(entry)
        self.empty.setVisible(not self.rows)

    def _on_progressed(self, key: str, event: DownloadProgress) -> None:
        row = self.rows.get(key)
        if row is not None:
            row.show_progress(event)
